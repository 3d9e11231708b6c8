import type { InformerMetrics } from '../cache/informer.js';
import type { EventMetrics } from '../events/types.js';
import type { WorkQueueMetrics } from '../queue/work-queue.js';

export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after' | 'timeout';

/** What the engine reports. The engine only knows this interface; the Prometheus adapter lives
 * above it (src/metrics) and is defined once per process, so metric names stay unique. */
export interface EngineMetrics {
  reconciled(controller: string, cluster: string, outcome: ReconcileOutcome, seconds: number): void;
  queue(controller: string, cluster: string): WorkQueueMetrics;
  informer(cluster: string, kind: string): InformerMetrics;
  /** The event recorder of a cluster (events recorded, dropped by reason). */
  events?(cluster: string): EventMetrics;
  /** Drops every series of a cluster that stopped, so label sets do not grow without bound. */
  forgetCluster(cluster: string): void;
}

export const NO_METRICS: EngineMetrics = {
  reconciled: () => undefined,
  queue: () => ({}),
  informer: () => ({}),
  events: () => ({}),
  forgetCluster: () => undefined,
};
