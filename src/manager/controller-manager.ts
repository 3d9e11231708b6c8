import { Informer, type InformerOptions } from '../cache/informer.js';
import type { ObjectStore } from '../cache/store.js';
import { pickWatchSpec, watchSpecKey, type WatchSpec } from '../cache/types.js';
import type { ClusterClient } from '../client/cluster-client.js';
import type { FailureReason } from '../client/errors.js';
import type { ClusterEventRecorder } from '../events/event-recorder.js';
import type { FairLimiter } from '../queue/fair-limiter.js';
import type { DiscoveredReconciler } from '../reconcile/reconciler.explorer.js';
import { abortReason, sleep } from '../util/abort.js';
import { AccessProbe } from './access-probe.js';
import { Controller, type ControllerHealth } from './controller.js';
import type { EngineMetrics } from './engine-metrics.js';
import type { Scheduler } from './scheduler.js';

export interface WatchStatus extends WatchSpec {
  synced: boolean;
  watching: boolean;
  objects: number;
  relists: number;
  watchRestarts: number;
  error?: { reason: FailureReason; message: string; since: Date };
}

export interface ManagerStatus {
  /** Every watch has listed (a runtime without watches: the cluster answered once). */
  synced: boolean;
  /** What an operator should see first: the access probe's finding, else the first failing watch. */
  error?: { reason: FailureReason; message: string; since: Date };
  watches: WatchStatus[];
  controllers: ControllerHealth[];
}

export interface ControllerManagerDeps {
  cluster: string;
  client: ClusterClient;
  limiter: FairLimiter;
  metrics: EngineMetrics;
  scheduler: Scheduler;
  informerOptions?: InformerOptions;
  /** How often the access probe runs (default 15 s: a revoked permission shows within 30 s). */
  probeIntervalMs?: number;
  /** Called on every change of status(): sync, failures, recoveries, failing reconciles. */
  onChange?: () => void;
  /** The cluster's event recorder; each controller gets a view reporting as itself. */
  events?: ClusterEventRecorder;
}

/**
 * The controllers of one cluster and the informers they share (one per distinct watch), in the
 * manner of controller-runtime's manager: start them, tell whether they are synced and why not,
 * and say so the moment it changes, stop them all.
 */
export class ControllerManager {
  private readonly informers = new Map<string, Informer>();
  private readonly controllers: Controller[] = [];
  private readonly abort = new AbortController();
  private readonly probe: AccessProbe;
  private readonly probeName: string;
  private started = false;

  constructor(private readonly deps: ControllerManagerDeps) {
    this.probeName = `clusterregistry/${deps.cluster}/probe`;
    this.probe = new AccessProbe(
      deps.client,
      () => [...this.informers.values()].map((i) => ({ spec: i.spec, resource: () => i.resourceInfo })),
      () => this.changed(),
    );
  }

  add(reconciler: DiscoveredReconciler): void {
    if (this.started) throw new Error('ControllerManager: add() after start()');
    const { apiVersion, kind } = reconciler.options;
    if (!apiVersion !== !kind) {
      throw new Error(`reconciler ${reconciler.options.name}: give both apiVersion and kind, or neither`);
    }
    // Without a primary kind the keys come from sources and secondary watches only.
    const informer = apiVersion && kind ? this.informer({ ...reconciler.options, apiVersion, kind }) : undefined;
    const secondary = (reconciler.options.watches ?? []).map((w) => this.informer(w));
    this.controllers.push(
      new Controller(reconciler, {
        ...this.deps,
        informer,
        secondary,
        onHealthChange: () => this.changed(),
        recorder: this.deps.events?.forReconciler(reconciler.options.name, reconciler.options),
      }),
    );
  }

  /** One informer per distinct watch, shared by every controller that needs it. */
  private informer(watch: WatchSpec): Informer {
    const spec = pickWatchSpec(watch);
    let informer = this.informers.get(watchSpecKey(spec));
    if (!informer) {
      informer = new Informer(this.deps.client, spec, {
        ...this.deps.informerOptions,
        metrics: this.deps.metrics.informer(this.deps.cluster, spec.kind),
      });
      informer.onState(() => this.changed());
      this.informers.set(watchSpecKey(spec), informer);
    }
    return informer;
  }

  /** Starts every informer and controller; returns at once (see waitForSync and onChange). */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const controller of this.controllers) controller.start();
    for (const informer of this.informers.values()) void informer.start(this.abort.signal);
    // The first list proves the connection; the probe then re-checks access periodically. A
    // runtime without watches has no list: its probe runs at once.
    const probe = (): void => void this.probe.check(this.abort.signal);
    if (this.informers.size === 0) probe();
    this.deps.scheduler.every(this.probeName, this.deps.probeIntervalMs ?? 15_000, probe);
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
    const probe = this.probe.state();
    const synced = watches.length > 0 ? watches.every((w) => w.synced) : probe.ok === true;
    return {
      synced,
      error: probe.error ?? watches.find((w) => w.error)?.error,
      watches,
      controllers: this.controllers.map((c) => c.health()),
    };
  }

  /** Resolves once every informer has listed (or, without watches, the cluster answered);
   * rejects if `signal` aborts first. */
  async waitForSync(signal: AbortSignal): Promise<void> {
    if (this.informers.size > 0) {
      await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
      return;
    }
    // No list to wait for: check the connection until it answers (the interval is too slow here).
    for (let retry = 0; this.probe.state().ok !== true; retry++) {
      if (retry > 0) await sleep(Math.min(5_000, 250 * 2 ** retry), signal);
      if (signal.aborted) throw abortReason(signal);
      await this.probe.check(signal);
    }
  }

  /** Stops controllers (dropping queued work, aborting reconciles) and watches; bounded by graceMs. */
  async stop(graceMs: number): Promise<void> {
    this.deps.scheduler.cancel(this.probeName);
    this.abort.abort(new Error(`cluster ${this.deps.cluster} stopped`));
    this.deps.limiter.dropTenant(this.deps.cluster);
    await Promise.all(this.controllers.map((c) => c.stop(graceMs)));
    this.deps.metrics.forgetCluster(this.deps.cluster);
  }

  private changed(): void {
    try {
      this.deps.onChange?.();
    } catch {
      /* the listener reports its own errors */
    }
  }
}
