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
}

/**
 * Bounded concurrency shared by all clusters (tenants). A freed slot goes to the tenants with
 * waiters in round-robin order, FIFO within a tenant, so a cluster with a deep backlog takes one
 * turn per round instead of starving the others; and no tenant may hold the reserved slots, so a
 * newcomer does not even wait for a turn while there are few of them.
 */
export class FairLimiter {
  private readonly max: number;
  /** Most slots one tenant may hold. */
  private readonly perTenant: number;
  private active = 0;
  private totalWaiting = 0;
  /** Slots held per tenant (tenants holding none are absent). */
  private readonly held = new Map<string, number>();
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
    this.max = limit;
    this.perTenant = limit - reserve;
  }

  /** Resolves with an idempotent release function once the tenant holds a slot. Rejects with the
   * signal's reason if it aborts first (the waiter is removed), or when dropTenant() is called. */
  acquire(tenant: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    // Nobody of this tenant waits (it would be served first), and a free slot it may take.
    if (this.active < this.max && this.heldBy(tenant) < this.perTenant && !this.queues.has(tenant)) {
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

  /** Waiters of one tenant, or of all tenants. */
  waiting(tenant?: string): number {
    return tenant === undefined ? this.totalWaiting : (this.queues.get(tenant)?.size ?? 0);
  }

  /** Rejects every waiter of the tenant (a cluster being stopped). Slots it holds stay held until
   * released; later acquire() calls for the tenant are served as usual. */
  dropTenant(tenant: string, reason: Error = new Error(`FairLimiter: tenant ${tenant} dropped`)): void {
    const queue = this.queues.get(tenant);
    if (!queue) return;
    this.queues.delete(tenant);
    this.totalWaiting -= queue.size;
    for (const waiter of queue) {
      waiter.off?.();
      waiter.reject(reason);
    }
  }

  private heldBy(tenant: string): number {
    return this.held.get(tenant) ?? 0;
  }

  /** Counts the slot as the tenant's; the release function gives it back once. */
  private grant(tenant: string): () => void {
    this.held.set(tenant, this.heldBy(tenant) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.heldBy(tenant) - 1;
      if (left > 0) this.held.set(tenant, left);
      else this.held.delete(tenant);
      this.active--;
      this.fill();
    };
  }

  /** Hands free slots to waiting tenants in round order, skipping tenants at their cap; a slot
   * nobody may take stays free (a reserved one, for the next newcomer). */
  private fill(): void {
    while (this.active < this.max && this.totalWaiting > 0) {
      let served = false;
      for (const [tenant, queue] of this.queues) {
        if (this.heldBy(tenant) >= this.perTenant) continue;
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
