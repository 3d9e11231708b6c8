import { abortReason, onAbort } from '../util/abort.js';

interface Waiter {
  resolve(release: () => void): void;
  reject(reason: unknown): void;
  /** Removes the abort listener, once the waiter is served or dropped. */
  off?: () => void;
}

export interface FairLimiterOptions {
  /**
   * Slots no single tenant may take: one tenant holds at most `limit - reserve`, so a cluster
   * whose first change arrives while another floods the limit finds a slot at once instead of
   * waiting for one to free (the idea of API Priority and Fairness' seats held back from a flow).
   * Default: a quarter of the limit, rounded down (0 below 4: a small limit is not split).
   */
  reserve?: number;
  /**
   * Length of the window over which each tenant's recent demand (the most slots it held at once)
   * is remembered: a tenant's demand counts for the window it was seen in and the next one.
   * Default 1 s.
   */
  windowMs?: number;
  /** The clock the windows are measured on (tests pass a fake one). */
  now?: () => number;
}

/** One tenant's slots and recent demand. */
interface Tenant {
  held: number;
  /** Most slots held at once in the current window, and in the one before it. */
  peak: number;
  previousPeak: number;
  /** Slots kept free for this tenant now: min(recent demand, fair share) - held, at least 0. */
  headroom: number;
}

/**
 * Bounded concurrency shared by all clusters (tenants). A freed slot goes to the tenants with
 * waiters in round-robin order, FIFO within a tenant, so a cluster with a deep backlog takes one
 * turn per round instead of starving the others. A running reconcile cannot be preempted, so
 * waiting for a turn still means waiting for some reconcile to end; two rules keep slots free
 * before they are needed instead:
 * - no tenant may hold the reserved slots (`reserve`), so a newcomer finds one at once;
 * - a tenant may take a slot only if as many stay free as the other tenants recently used on top
 *   of what they hold now (each capped at its fair share, limit / tenants active in the last
 *   window): a cluster changing at 10/s keeps the two or three slots it needs while another
 *   floods, and a cluster alone still uses everything but the reserve.
 */
export class FairLimiter {
  private readonly max: number;
  /** Most slots one tenant may hold. */
  private readonly perTenant: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private active = 0;
  private totalWaiting = 0;
  /** Tenants holding slots or with demand in the last two windows. */
  private readonly tenants = new Map<string, Tenant>();
  /** Sum of every tenant's headroom: the slots kept free for the recent demand of all. */
  private headroom = 0;
  /** A tenant's fair share: the limit over the tenants that held slots in the last window. */
  private share: number;
  private windowEnds: number;
  /** Tenants with waiters in round-robin order: the first eligible one is served next and then
   * moved to the back (Map keeps insertion order, and delete + set re-inserts in O(1)). Sets give
   * FIFO order and O(1) removal of an aborted waiter. */
  private readonly queues = new Map<string, Set<Waiter>>();

  constructor(limit: number, options: FairLimiterOptions = {}) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`FairLimiter limit must be an integer >= 1, got ${limit}`);
    const reserve = options.reserve ?? Math.floor(limit / 4);
    if (!Number.isInteger(reserve) || reserve < 0 || reserve >= limit) {
      throw new RangeError(`FairLimiter reserve must be an integer from 0 to limit - 1, got ${reserve}`);
    }
    const windowMs = options.windowMs ?? 1_000;
    if (!(windowMs > 0)) throw new RangeError(`FairLimiter windowMs must be > 0, got ${windowMs}`);
    this.max = limit;
    this.perTenant = limit - reserve;
    this.windowMs = windowMs;
    this.now = options.now ?? (() => performance.now());
    this.share = limit;
    this.windowEnds = this.now() + windowMs;
  }

  /** Resolves with an idempotent release function once the tenant holds a slot. Rejects with the
   * signal's reason if it aborts first (the waiter is removed), or when dropTenant() is called. */
  acquire(tenant: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    this.roll();
    // Nobody of this tenant waits (it would be served first), and a free slot it may take.
    if (!this.queues.has(tenant) && this.mayTake(tenant)) {
      this.active++;
      return Promise.resolve(this.grant(tenant));
    }
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (signal) {
        waiter.off = onAbort(signal, () => {
          if (this.remove(tenant, waiter)) reject(abortReason(signal));
        });
      }
      let queue = this.queues.get(tenant);
      if (!queue) {
        queue = new Set();
        this.queues.set(tenant, queue);
      }
      queue.add(waiter);
      this.totalWaiting++;
    });
  }

  get limit(): number {
    return this.max;
  }

  /** Slots reserved from any single tenant. */
  get reserve(): number {
    return this.max - this.perTenant;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Slots kept free now for the recent demand of tenants other than `tenant` (all, if absent). */
  keptFree(tenant?: string): number {
    this.roll();
    return this.headroom - (tenant === undefined ? 0 : (this.tenants.get(tenant)?.headroom ?? 0));
  }

  /** Waiters of one tenant, or of all tenants. */
  waiting(tenant?: string): number {
    return tenant === undefined ? this.totalWaiting : (this.queues.get(tenant)?.size ?? 0);
  }

  /** Rejects every waiter of the tenant (a cluster being stopped) and forgets its demand. Slots it
   * holds stay held until released; later acquire() calls for the tenant are served as usual. */
  dropTenant(tenant: string, reason: Error = new Error(`FairLimiter: tenant ${tenant} dropped`)): void {
    const record = this.tenants.get(tenant);
    if (record) {
      record.peak = record.previousPeak = 0;
      this.updateHeadroom(record);
    }
    const queue = this.queues.get(tenant);
    if (!queue) return;
    this.queues.delete(tenant);
    this.totalWaiting -= queue.size;
    for (const waiter of queue) {
      waiter.off?.();
      waiter.reject(reason);
    }
  }

  /** A free slot, below the tenant's cap, and either within its fair share or (borrowing beyond
   * it) leaving free the slots the others' recent demand may need. */
  private mayTake(name: string): boolean {
    if (this.active >= this.max) return false;
    const tenant = this.tenants.get(name);
    const held = tenant?.held ?? 0;
    if (held >= this.perTenant) return false;
    if (held < this.share) return true;
    return this.max - this.active - 1 >= this.headroom - (tenant?.headroom ?? 0);
  }

  /** Counts the slot as the tenant's; the release function gives it back once. */
  private grant(name: string): () => void {
    let tenant = this.tenants.get(name);
    if (!tenant) {
      tenant = { held: 0, peak: 0, previousPeak: 0, headroom: 0 };
      this.tenants.set(name, tenant);
    }
    tenant.held++;
    if (tenant.held > tenant.peak) tenant.peak = tenant.held;
    this.updateHeadroom(tenant);
    const record = tenant;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.roll();
      record.held--;
      this.updateHeadroom(record);
      this.active--;
      this.fill();
    };
  }

  private updateHeadroom(tenant: Tenant): void {
    const demand = Math.min(Math.max(tenant.peak, tenant.previousPeak), this.share);
    const headroom = Math.max(0, demand - tenant.held);
    this.headroom += headroom - tenant.headroom;
    tenant.headroom = headroom;
  }

  /** Starts a new window when the clock has passed the current one's end: the demand seen in the
   * window that ended becomes the previous one, and the fair share is recounted. O(tenants), once
   * per window. */
  private roll(): void {
    const now = this.now();
    if (now < this.windowEnds) return;
    // No acquire or release for a whole window: nothing changed in the window just ended.
    const idleWindow = now - this.windowEnds >= this.windowMs;
    let busy = 0;
    for (const [name, tenant] of this.tenants) {
      tenant.previousPeak = idleWindow ? tenant.held : tenant.peak;
      tenant.peak = tenant.held;
      if (tenant.previousPeak > 0) busy++;
      else if (tenant.held === 0) this.tenants.delete(name);
    }
    this.share = busy > 0 ? Math.floor(this.max / busy) : this.max;
    this.headroom = 0;
    for (const tenant of this.tenants.values()) {
      tenant.headroom = 0;
      this.updateHeadroom(tenant);
    }
    this.windowEnds = now + this.windowMs;
  }

  /** Hands free slots to waiting tenants in round order, skipping tenants that may not take one
   * now; a slot nobody may take stays free (for the next newcomer, or a tenant's recent demand). */
  private fill(): void {
    while (this.active < this.max && this.totalWaiting > 0) {
      let served = false;
      for (const [tenant, queue] of this.queues) {
        if (!this.mayTake(tenant)) continue;
        const waiter = queue.values().next().value!;
        queue.delete(waiter);
        this.totalWaiting--;
        this.queues.delete(tenant);
        if (queue.size > 0) this.queues.set(tenant, queue);
        waiter.off?.();
        this.active++;
        waiter.resolve(this.grant(tenant));
        served = true;
        break;
      }
      if (!served) return;
    }
  }

  private remove(tenant: string, waiter: Waiter): boolean {
    const queue = this.queues.get(tenant);
    if (!queue?.delete(waiter)) return false;
    this.totalWaiting--;
    if (queue.size === 0) this.queues.delete(tenant);
    return true;
  }
}
