/** What the orchestrator does when this replica may run, and when it may not any more. */
export interface RunHooks {
  activate(): Promise<void> | void;
  deactivate(): Promise<void> | void;
}

/**
 * Decides when this replica may run its reconcilers: always (one replica), while it leads
 * (leader election), or, later, per shard it owns. The orchestrator is its only user.
 */
export interface RunGate {
  start(hooks: RunHooks): void;
  /** Deactivates (if active) and releases what the gate holds (a Lease), for shutdown. */
  stop(): Promise<void>;
  /** True while this replica may run. */
  readonly active: boolean;
  /** Identity of this replica in the gate (its Lease holder name), when there is one. */
  readonly identity?: string;
}

export const RUN_GATE = Symbol('RUN_GATE');

/** One replica, always allowed to run. */
export class AlwaysRunGate implements RunGate {
  private hooks?: RunHooks;
  private running = false;

  get active(): boolean {
    return this.running;
  }

  start(hooks: RunHooks): void {
    this.hooks = hooks;
    this.running = true;
    void Promise.resolve(hooks.activate());
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.hooks?.deactivate();
  }
}
