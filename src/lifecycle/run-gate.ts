/** What the orchestrator does when this replica may run, and when it may not any more. */
export interface RunHooks {
  activate(): Promise<void> | void;
  deactivate(): Promise<void> | void;
  /** For sharded gates: stops the runtimes of the clusters `which` selects, which this replica
   * may no longer run. The gate gives their Lease up only once this has resolved. */
  stopClusters?(which: (cluster: string) => boolean): Promise<void>;
}

/** A shard this replica gained or lost. */
export interface OwnershipChange {
  shard: number;
  /** True: this replica may run the shard's clusters from now on; false: not any more. */
  owned: boolean;
  /** Whether a cluster (by name) is in this shard. */
  includes(cluster: string): boolean;
}

/**
 * Decides when this replica may run its reconcilers: always (one replica), while it leads
 * (leader election), or per shard it owns (sharding). The orchestrator is its only user.
 */
export interface RunGate {
  start(hooks: RunHooks): void;
  /** Deactivates (if active) and releases what the gate holds (a Lease), for shutdown. Every
   * call after the first resolves with it (one shutdown, however many callers). */
  stop(): Promise<void>;
  /** True while this replica may run. */
  readonly active: boolean;
  /** Identity of this replica in the gate (its Lease holder name), when there is one. */
  readonly identity?: string;
  /** Sharded gates: whether this replica may run `cluster` now (it holds its shard's Lease).
   * A gate without it lets an active replica run every cluster. */
  owns?(cluster: string): boolean;
  /** Sharded gates: hears every shard this replica gains or loses; returns the unsubscribe. */
  onOwnershipChange?(listener: (change: OwnershipChange) => void): () => void;
}

export const RUN_GATE = Symbol('RUN_GATE');
/** With sharding, the gate of the manage reconcilers that must run once per fleet
 * (`@Reconciler({ singleton: true })`): leader election, or null when not configured. */
export const SINGLETON_GATE = Symbol('SINGLETON_GATE');

/** One replica, always allowed to run. */
export class AlwaysRunGate implements RunGate {
  private hooks?: RunHooks;
  private running = false;
  private stopping?: Promise<void>;

  get active(): boolean {
    return this.running;
  }

  start(hooks: RunHooks): void {
    this.hooks = hooks;
    this.running = true;
    void Promise.resolve(hooks.activate());
  }

  stop(): Promise<void> {
    if (!this.hooks) return Promise.resolve();
    this.stopping ??= (async () => {
      this.running = false;
      await this.hooks?.deactivate();
    })();
    return this.stopping;
  }
}
