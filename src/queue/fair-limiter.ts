import { abortReason, onAbort } from '../util/abort.js';

interface Waiter {
  resolve(release: () => void): void;
  reject(reason: unknown): void;
  /** Removes the abort listener, once the waiter is served or dropped. */
  off?: () => void;
}

/**
 * Bounded concurrency shared by all clusters (tenants). A freed slot goes to the tenants with
 * waiters in round-robin order, FIFO within a tenant, so a cluster with a deep backlog takes one
 * turn per round instead of starving the others.
 */
export class FairLimiter {
  private readonly max: number;
  private active = 0;
  private totalWaiting = 0;
  /** Tenants with waiters in round-robin order: the first is served next and then moved to the
   * back (Map keeps insertion order, and delete + set re-inserts in O(1)). Sets give FIFO order
   * and O(1) removal of an aborted waiter. */
  private readonly queues = new Map<string, Set<Waiter>>();

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`FairLimiter limit must be an integer >= 1, got ${limit}`);
    this.max = limit;
  }

  /** Resolves with an idempotent release function once the tenant holds a slot. Rejects with the
   * signal's reason if it aborts first (the waiter is removed), or when dropTenant() is called. */
  acquire(tenant: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    // A free slot means nobody waits: every release hands its slot straight to a waiter.
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
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

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.handOff();
    };
  }

  /** Gives a freed slot to the next tenant in the round, or returns it to the pool. */
  private handOff(): void {
    const next = this.queues.entries().next();
    if (next.done) {
      this.active--;
      return;
    }
    const [tenant, queue] = next.value;
    const waiter = queue.values().next().value!;
    queue.delete(waiter);
    this.totalWaiting--;
    this.queues.delete(tenant);
    if (queue.size > 0) this.queues.set(tenant, queue);
    waiter.off?.();
    waiter.resolve(this.releaser());
  }

  private remove(tenant: string, waiter: Waiter): boolean {
    const queue = this.queues.get(tenant);
    if (!queue?.delete(waiter)) return false;
    this.totalWaiting--;
    if (queue.size === 0) this.queues.delete(tenant);
    return true;
  }
}
