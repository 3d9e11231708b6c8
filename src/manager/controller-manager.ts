import { Informer, type InformerOptions, type WatchSpec } from '../cache/informer.js';
import type { ObjectStore } from '../cache/store.js';
import type { ClusterClient } from '../client/cluster-client.js';
import type { FailureReason } from '../client/errors.js';
import type { EngineMetrics } from '../metrics/engine-metrics.js';
import type { FairLimiter } from '../queue/fair-limiter.js';
import type { DiscoveredReconciler } from '../reconcile/reconciler.explorer.js';
import { ConnectionProbe } from './connection-probe.js';
import { Controller } from './controller.js';

export interface WatchStatus extends WatchSpec {
  synced: boolean;
  watching: boolean;
  objects: number;
  relists: number;
  watchRestarts: number;
  error?: { reason: FailureReason; message: string; since: Date };
}

export interface ManagerStatus {
  /** The cluster answered (GET /version) and every watch has listed once. */
  synced: boolean;
  /** The first failing watch, if any: the cause an operator should see. */
  error?: { reason: FailureReason; message: string; since: Date };
  watches: WatchStatus[];
}

export interface ControllerManagerDeps {
  cluster: string;
  client: ClusterClient;
  limiter: FairLimiter;
  metrics: EngineMetrics;
  informerOptions?: InformerOptions;
  /** How often the connection is checked when no watch would notice (default 30 s). */
  probeIntervalMs?: number;
}

function specKey(spec: WatchSpec): string {
  return [spec.apiVersion, spec.kind, spec.namespace ?? '', spec.labelSelector ?? '', spec.fieldSelector ?? ''].join(
    '|',
  );
}

/**
 * The controllers of one cluster and the informers they share (one per distinct watch), in the
 * manner of controller-runtime's manager: start them, tell whether they are synced and why not,
 * stop them all.
 */
export class ControllerManager {
  private readonly informers = new Map<string, Informer>();
  private readonly controllers: Controller[] = [];
  private readonly abort = new AbortController();
  private started = false;
  private readonly probe: ConnectionProbe;

  constructor(private readonly deps: ControllerManagerDeps) {
    this.probe = new ConnectionProbe(deps.client, deps.probeIntervalMs ?? 30_000, this.abort.signal);
  }

  get cluster(): string {
    return this.deps.cluster;
  }

  add(reconciler: DiscoveredReconciler): void {
    if (this.started) throw new Error('ControllerManager: add() after start()');
    const informer = this.informer(reconciler.options);
    const secondary = (reconciler.options.watches ?? []).map((w) => this.informer(w));
    this.controllers.push(new Controller(reconciler, { ...this.deps, informer, secondary }));
  }

  /** One informer per distinct watch, shared by every controller that needs it. */
  private informer({ apiVersion, kind, namespace, labelSelector, fieldSelector }: WatchSpec): Informer {
    const spec: WatchSpec = { apiVersion, kind, namespace, labelSelector, fieldSelector };
    let informer = this.informers.get(specKey(spec));
    if (!informer) {
      informer = new Informer(this.deps.client, spec, {
        ...this.deps.informerOptions,
        metrics: this.deps.metrics.informer(this.deps.cluster, kind),
      });
      this.informers.set(specKey(spec), informer);
    }
    return informer;
  }

  /** Starts every informer and controller; returns at once (see waitForSync). */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const controller of this.controllers) controller.start();
    for (const informer of this.informers.values()) void informer.start(this.abort.signal);
    this.probe.start();
  }

  /** The cache of a watched kind (any informer of this manager), for readers outside reconciles. */
  cache(apiVersion: string, kind: string): ObjectStore | undefined {
    return [...this.informers.values()].find((i) => i.spec.apiVersion === apiVersion && i.spec.kind === kind)?.store;
  }

  status(): ManagerStatus {
    const watches = [...this.informers.values()].map((informer): WatchStatus => {
      const state = informer.state();
      return {
        ...informer.spec,
        synced: state.synced,
        watching: state.watching,
        objects: informer.store.size,
        relists: state.relists,
        watchRestarts: state.watchRestarts,
        error: state.error,
      };
    });
    const connection = this.probe.state();
    return {
      synced: connection.ok && watches.every((w) => w.synced),
      error: connection.error ?? watches.find((w) => w.error)?.error,
      watches,
    };
  }

  /** Resolves once every informer has listed; rejects if `signal` aborts first. */
  async waitForSync(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
    await this.probe.waitOk(signal);
  }

  /** Stops controllers (dropping queued work, aborting reconciles) and watches; bounded by graceMs. */
  async stop(graceMs: number): Promise<void> {
    this.abort.abort(new Error(`cluster ${this.deps.cluster} stopped`));
    this.probe.stop();
    this.deps.limiter.dropTenant(this.deps.cluster);
    await Promise.all(this.controllers.map((c) => c.stop(graceMs)));
    this.deps.metrics.forgetCluster(this.deps.cluster);
  }
}
