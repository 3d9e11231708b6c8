import type { ObjectStore } from '../cache/store.js';
import type { ClusterClient } from '../client/cluster-client.js';
import type { ClusterEventRecorder } from '../events/event-recorder.js';
import { ControllerManager, type ManagerStatus } from '../manager/controller-manager.js';
import type { Scheduler } from '../manager/scheduler.js';
import type { DiscoveredReconciler } from '../reconcile/reconciler.explorer.js';
import type { Engine } from './engine.js';

export interface ClusterRuntimeOptions {
  name: string;
  client: ClusterClient;
  engine: Engine;
  scheduler: Scheduler;
  /** Close the client on stop: remote clusters own theirs; the manage client belongs to the root. */
  ownsClient: boolean;
  /** The cluster's event recorder: ctx.recorder of every reconciler (its owner closes it). */
  events?: ClusterEventRecorder;
}

/**
 * Everything that runs against one cluster: its client, its controllers and informers, its
 * access probe. One class for the manage cluster (the root app's reconcilers) and for each
 * remote cluster (inside that cluster's own context). It reports every change of its status
 * to onChange listeners, so its owner never polls it.
 */
export class ClusterRuntime {
  private readonly manager: ControllerManager;
  private readonly listeners = new Set<() => void>();
  private started = false;
  private stopping?: Promise<void>;

  constructor(private readonly options: ClusterRuntimeOptions) {
    const { engine } = options;
    this.manager = new ControllerManager({
      cluster: options.name,
      client: options.client,
      limiter: engine.limiter,
      metrics: engine.metrics,
      scheduler: options.scheduler,
      informerOptions: engine.informerOptions,
      probeIntervalMs: engine.probeIntervalMs,
      events: options.events,
      onChange: () => {
        for (const listener of this.listeners) listener();
      },
    });
  }

  get client(): ClusterClient {
    return this.options.client;
  }

  /** Starts the given reconcilers; returns at once (see waitForSync and onChange). Once stop()
   * was called it does nothing: a stopped runtime never starts again. */
  start(reconcilers: DiscoveredReconciler[]): void {
    if (this.started || this.stopping) return;
    this.started = true;
    for (const reconciler of reconcilers) this.manager.add(reconciler);
    this.manager.start();
  }

  status(): ManagerStatus {
    return this.manager.status();
  }

  /** Names of its periodic work running now (access probe, resyncs), for diagnostics. */
  scheduled(): string[] {
    return this.options.scheduler.names();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  waitForSync(signal: AbortSignal): Promise<void> {
    return this.manager.waitForSync(signal);
  }

  /** The cache of a watched kind, for readers outside reconciles. */
  cache(apiVersion: string, kind: string): ObjectStore | undefined {
    return this.manager.cache(apiVersion, kind);
  }

  /** start() was called: it then holds its name's limiter tenant and metric series until stop(). */
  get isStarted(): boolean {
    return this.started;
  }

  /** Aborts every watch, reconcile and request; waits for reconciles at most the engine's grace. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.listeners.clear();
      // Closing the client first aborts every request and watch at once; then the workers get
      // their grace period to return.
      const closing = this.options.ownsClient ? this.options.client.close() : Promise.resolve();
      // One never started took no limiter tenant nor metric series of its own under its cluster's
      // name, which may belong to another runtime of that name by now (its spawn, if it failed,
      // forgets the module's series while the name is still its own).
      if (this.started) await this.manager.stop(this.options.engine.stopGraceMs);
      await closing;
    })();
    return this.stopping;
  }
}
