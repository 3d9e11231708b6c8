import { monitorEventLoopDelay, performance, type EventLoopUtilization, type ELDHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { InformerMetrics } from '../cache/informer.js';
import { EVENT_DROP_REASONS, type EventMetrics, type EventType } from '../events/types.js';
import type { WorkQueueMetrics } from '../queue/work-queue.js';
import type { EngineMetrics, ReconcileOutcome } from '../manager/engine-metrics.js';
import type { ClusterPhase } from '../registry/types.js';
import type { ShardMetrics } from '../sharding/options.js';

const PHASES: ClusterPhase[] = ['starting', 'synced', 'degraded', 'stopping'];
const OUTCOMES: ReconcileOutcome[] = ['success', 'error', 'requeue', 'requeue_after', 'timeout'];
const EVENT_TYPES: EventType[] = ['Normal', 'Warning'];
/** The event-loop delay monitor's sampling interval: what it records beyond this is delay. */
const LOOP_RESOLUTION_MS = 10;
const LOOP_QUANTILES = [0.5, 0.9, 0.99, 1];

/** A RemoteCluster's Ready condition, as the metrics show it. */
export interface RemoteClusterReadiness {
  name: string;
  ready: boolean;
  /** The Ready condition's reason (absent before the controller wrote one). */
  reason?: string;
}

/**
 * The process's metrics, defined once in the root with a `cluster` label and handed to every
 * cluster context (prom-client keeps metric names global). Names follow controller-runtime and
 * client-go where one fits. Series of a stopped cluster are removed, so a churn of clusters does
 * not grow the registry.
 */
export class PrometheusMetrics implements EngineMetrics, ShardMetrics {
  readonly registry = new Registry();
  private readonly reconcileTotal: Counter<'controller' | 'cluster' | 'result'>;
  private readonly reconcileErrors: Counter<'controller' | 'cluster'>;
  private readonly reconcileTime: Histogram<'controller' | 'cluster'>;
  private readonly queueDepth: Gauge<'name' | 'cluster'>;
  private readonly queueAdds: Counter<'name' | 'cluster'>;
  private readonly queueLatency: Histogram<'name' | 'cluster'>;
  private readonly queueRetries: Counter<'name' | 'cluster'>;
  private readonly watchRestarts: Counter<'cluster' | 'kind' | 'reason'>;
  private readonly relists: Counter<'cluster' | 'kind'>;
  private readonly watchEvents: Counter<'cluster' | 'kind' | 'type'>;
  private readonly clusterPhase: Gauge<'cluster' | 'phase'>;
  private readonly shardsHeld: Gauge<'replica'>;
  private readonly shardMembers: Gauge<'replica'>;
  private readonly clustersHeld: Gauge<'replica'>;
  private readonly handovers: Counter<'replica' | 'event'>;
  private readonly leaseWrites: Counter<'replica' | 'kind'>;
  /** This replica's identity in sharding (the `replica` label), once sharding reported. */
  private replica?: string;
  private readonly eventsRecorded: Counter<'cluster' | 'type'>;
  private readonly eventsDropped: Counter<'cluster' | 'reason'>;
  private readonly remoteClusterReady: Gauge<'cluster'>;
  private readonly remoteClusterReadyReason: Gauge<'cluster' | 'reason'>;
  private readonly activeGauge: Gauge;
  private readonly loopDelay: Gauge<'quantile'>;
  private readonly loopUtilization: Gauge;
  private readonly loopHistogram: ELDHistogram;
  private loopLast: { at: number; elu: EventLoopUtilization };
  /** Called before every collection: state that is read, not counted (phases, Ready, leader). */
  private readonly collectors: (() => void)[] = [];
  /** Every label set created per cluster, to remove them when it stops. */
  private readonly series = new Map<string, { metric: Metric<string>; labels: Record<string, string> }[]>();
  private readonly children = new Map<string, { inc(n?: number): void; observe?(v: number): void }>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciles per controller, cluster and result (success, error, requeue, requeue_after, timeout).',
      labelNames: ['controller', 'cluster', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconciles that threw or timed out.',
      labelNames: ['controller', 'cluster'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Time per reconcile.',
      labelNames: ['controller', 'cluster'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'workqueue_depth',
      help: 'Keys ready in the work queue.',
      labelNames: ['name', 'cluster'],
      registers,
    });
    this.queueAdds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Keys added to the work queue.',
      labelNames: ['name', 'cluster'],
      registers,
    });
    this.queueLatency = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'Time a key waits in the queue before a worker takes it.',
      labelNames: ['name', 'cluster'],
      buckets: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
      registers,
    });
    this.queueRetries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Keys re-added with backoff.',
      labelNames: ['name', 'cluster'],
      registers,
    });
    this.watchRestarts = new Counter({
      name: 'clusterregistry_watch_restarts_total',
      help: 'Watches re-established, by reason (Timeout is the normal server-side end).',
      labelNames: ['cluster', 'kind', 'reason'],
      registers,
    });
    this.relists = new Counter({
      name: 'clusterregistry_relists_total',
      help: 'Full lists of a watched kind (start, 410 Gone).',
      labelNames: ['cluster', 'kind'],
      registers,
    });
    this.watchEvents = new Counter({
      name: 'clusterregistry_watch_events_total',
      help: 'Cache events by type.',
      labelNames: ['cluster', 'kind', 'type'],
      registers,
    });
    this.clusterPhase = new Gauge({
      name: 'clusterregistry_cluster_phase',
      help: '1 for the phase each registered cluster is in (starting, synced, degraded, stopping).',
      labelNames: ['cluster', 'phase'],
      registers,
    });
    this.shardsHeld = new Gauge({
      name: 'clusterregistry_shards_held',
      help: 'Shards whose clusters this replica runs (it holds their Lease).',
      labelNames: ['replica'],
      registers,
    });
    this.shardMembers = new Gauge({
      name: 'clusterregistry_shard_members',
      help: 'Live replicas this replica sees in the member Leases, itself included.',
      labelNames: ['replica'],
      registers,
    });
    this.clustersHeld = new Gauge({
      name: 'clusterregistry_clusters_held',
      help: 'Remote cluster runtimes this replica runs (with sharding: of the shards it holds).',
      labelNames: ['replica'],
      registers,
    });
    this.handovers = new Counter({
      name: 'clusterregistry_shard_handovers_total',
      help: 'Shards this replica acquired, released on purpose (handover, shutdown) or lost (not renewed in time).',
      labelNames: ['replica', 'event'],
      registers,
    });
    this.leaseWrites = new Counter({
      name: 'clusterregistry_lease_writes_total',
      help: 'Writes of member and shard Leases by this replica.',
      labelNames: ['replica', 'kind'],
      registers,
    });
    this.eventsRecorded = new Counter({
      name: 'clusterregistry_events_recorded_total',
      help: 'Kubernetes Events recorded by reconcilers and the RemoteCluster controller, per cluster they are written to and type (aggregated ones included).',
      labelNames: ['cluster', 'type'],
      registers,
    });
    this.eventsDropped = new Counter({
      name: 'clusterregistry_events_dropped_total',
      help: 'Kubernetes Events that did not reach the API: QueueFull, RateLimited (per object), Rejected (403, 422…), Failed (after retries), Shutdown.',
      labelNames: ['cluster', 'reason'],
      registers,
    });
    this.remoteClusterReady = new Gauge({
      name: 'clusterregistry_remotecluster_ready',
      help: '1 when the RemoteCluster object has Ready=True, 0 otherwise (False or Unknown); only on the replica that runs the controllers.',
      labelNames: ['cluster'],
      registers,
    });
    this.remoteClusterReadyReason = new Gauge({
      name: 'clusterregistry_remotecluster_ready_reason',
      help: "1 for the reason of each RemoteCluster's Ready condition (Synced, Unreachable, SecretNotFound…).",
      labelNames: ['cluster', 'reason'],
      registers,
    });
    this.activeGauge = new Gauge({
      name: 'clusterregistry_active',
      help: '1 while this replica runs the controllers (it holds the leader Lease, or leader election is off).',
      registers,
    });
    this.loopDelay = new Gauge({
      name: 'clusterregistry_event_loop_delay_seconds',
      help: 'Event-loop delay since the previous scrape (beyond the 10 ms sampling interval), by quantile; 1 is the maximum. A blocked loop stalls every cluster of the process.',
      labelNames: ['quantile'],
      registers,
    });
    this.loopUtilization = new Gauge({
      name: 'clusterregistry_event_loop_utilization',
      help: 'Share of time the event loop was busy since the previous scrape (0 to 1).',
      registers,
    });
    this.loopHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loopHistogram.enable();
    this.loopLast = { at: performance.now(), elu: performance.eventLoopUtilization() };
    for (const q of LOOP_QUANTILES) this.loopDelay.set({ quantile: String(q) }, 0);
    this.loopUtilization.set(0);
    this.activeGauge.set(0);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  shards(replica: string, held: number, members: number): void {
    this.replica = replica;
    this.shardsHeld.set({ replica }, held);
    this.shardMembers.set({ replica }, members);
  }

  handover(replica: string, event: 'acquired' | 'released' | 'lost'): void {
    this.handovers.inc({ replica, event });
  }

  leaseWrite(replica: string, kind: 'member' | 'shard'): void {
    this.leaseWrites.inc({ replica, kind });
  }

  /** Runs `collector` before every collection (metrics()): for values that are read, not counted. */
  onCollect(collector: () => void): void {
    this.collectors.push(collector);
  }

  /** Stops the event-loop monitor. */
  close(): void {
    this.loopHistogram.disable();
  }

  onApplicationShutdown(): void {
    this.close();
  }

  events(cluster: string): EventMetrics {
    // Every series from the start, so rates and alerts see 0 rather than nothing.
    const recorded = Object.fromEntries(
      EVENT_TYPES.map((type) => [type, this.child(this.eventsRecorded, { cluster, type })]),
    );
    const dropped = Object.fromEntries(
      EVENT_DROP_REASONS.map((reason) => [reason, this.child(this.eventsDropped, { cluster, reason })]),
    );
    for (const child of [...Object.values(recorded), ...Object.values(dropped)]) child.inc(0);
    return {
      recorded: (type) => recorded[type]?.inc(),
      dropped: (reason) => dropped[reason]?.inc(),
    };
  }

  /** Sets the Ready gauges of every RemoteCluster object; objects not listed are forgotten. */
  remoteClusters(objects: RemoteClusterReadiness[]): void {
    this.remoteClusterReady.reset();
    this.remoteClusterReadyReason.reset();
    for (const { name, ready, reason } of objects) {
      this.remoteClusterReady.set({ cluster: name }, ready ? 1 : 0);
      if (reason) this.remoteClusterReadyReason.set({ cluster: name, reason }, 1);
    }
  }

  /** Whether this replica runs the controllers now. */
  active(active: boolean): void {
    this.activeGauge.set(active ? 1 : 0);
  }

  /** The event loop since the previous collection (at least 1 s of it). */
  private sampleEventLoop(): void {
    const now = performance.now();
    if (now - this.loopLast.at < 1_000) return;
    const h = this.loopHistogram;
    const elu = performance.eventLoopUtilization(this.loopLast.elu);
    this.loopUtilization.set(Number.isFinite(elu.utilization) ? elu.utilization : 0);
    if (h.count > 0) {
      for (const q of LOOP_QUANTILES) {
        const ns = q === 1 ? h.max : h.percentile(q * 100);
        this.loopDelay.set({ quantile: String(q) }, Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) / 1000);
      }
    }
    h.reset();
    this.loopLast = { at: now, elu: performance.eventLoopUtilization() };
  }

  reconciled(controller: string, cluster: string, outcome: ReconcileOutcome, seconds: number): void {
    this.child(this.reconcileTotal, { controller, cluster, result: outcome }).inc();
    if (outcome === 'error' || outcome === 'timeout') this.child(this.reconcileErrors, { controller, cluster }).inc();
    this.child(this.reconcileTime, { controller, cluster }).observe!(seconds);
  }

  queue(controller: string, cluster: string): WorkQueueMetrics {
    // A controller's series exist from its start (as controller-runtime's do): an error rate
    // is 0, not missing, until something fails.
    for (const result of OUTCOMES) this.child(this.reconcileTotal, { controller, cluster, result }).inc(0);
    this.child(this.reconcileErrors, { controller, cluster }).inc(0);
    const labels = { name: controller, cluster };
    const depth = this.queueDepth.labels(labels);
    // Set now: a queue whose idle workers take every key at once never reports a depth itself.
    depth.set(0);
    this.track(cluster, this.queueDepth, labels);
    const adds = this.child(this.queueAdds, labels);
    const latency = this.child(this.queueLatency, labels);
    const retries = this.child(this.queueRetries, labels);
    retries.inc(0);
    adds.inc(0);
    return {
      depth: (n) => depth.set(n),
      added: () => adds.inc(),
      latency: (s) => latency.observe!(s),
      retry: () => retries.inc(),
    };
  }

  informer(cluster: string, kind: string): InformerMetrics {
    const relists = this.child(this.relists, { cluster, kind });
    return {
      relist: () => relists.inc(),
      watchRestart: (reason) => this.child(this.watchRestarts, { cluster, kind, reason }).inc(),
      event: (type) => this.child(this.watchEvents, { cluster, kind, type }).inc(),
    };
  }

  /** Sets the phase gauge of every registered cluster; clusters not listed are forgotten. */
  clusterPhases(phases: { name: string; phase: ClusterPhase }[]): void {
    if (this.replica !== undefined) this.clustersHeld.set({ replica: this.replica }, phases.length);
    this.clusterPhase.reset();
    for (const { name, phase } of phases) {
      for (const p of PHASES) this.clusterPhase.set({ cluster: name, phase: p }, p === phase ? 1 : 0);
    }
  }

  forgetCluster(cluster: string): void {
    for (const { metric, labels } of this.series.get(cluster) ?? []) {
      (metric as unknown as { remove(labels: Record<string, string>): void }).remove(labels);
      this.children.delete(this.childKey(metric, labels));
    }
    this.series.delete(cluster);
  }

  /** The text exposition, after the collectors ran (serve it on your own /metrics route). */
  metrics(): Promise<string> {
    this.sampleEventLoop();
    for (const collect of this.collectors) {
      try {
        collect();
      } catch {
        /* a collector's failure must not fail the scrape */
      }
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A cached child per label set: label hashing on every reconcile would cost more than the reconcile. */
  private child<L extends string>(
    metric: Counter<L> | Histogram<L>,
    labels: Record<L, string>,
  ): { inc(n?: number): void; observe?(v: number): void } {
    const key = this.childKey(metric, labels);
    let child = this.children.get(key);
    if (!child) {
      child = (metric as Counter<L>).labels(labels);
      this.children.set(key, child);
      this.track(labels['cluster' as L], metric, labels);
    }
    return child;
  }

  private childKey(metric: Metric<string>, labels: Record<string, string>): string {
    return `${(metric as unknown as { name: string }).name}\u0000${Object.values(labels).join('\u0000')}`;
  }

  private track(cluster: string, metric: Metric<string>, labels: Record<string, string>): void {
    let list = this.series.get(cluster);
    if (!list) this.series.set(cluster, (list = []));
    list.push({ metric, labels });
  }
}
