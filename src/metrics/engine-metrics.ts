import type { InformerMetrics } from '../cache/informer.js';
import type { WorkQueueMetrics } from '../queue/work-queue.js';

export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after' | 'timeout';

/** What the engine reports. The Prometheus implementation lives in the root app; a cluster
 * context only receives this interface, so metric names are defined once per process. */
export interface EngineMetrics {
  reconciled(controller: string, cluster: string, outcome: ReconcileOutcome, seconds: number): void;
  queue(controller: string, cluster: string): WorkQueueMetrics;
  informer(cluster: string, kind: string): InformerMetrics;
  /** Drops every series of a cluster that stopped, so label sets do not grow without bound. */
  forgetCluster(cluster: string): void;
}

export const NO_METRICS: EngineMetrics = {
  reconciled: () => undefined,
  queue: () => ({}),
  informer: () => ({}),
  forgetCluster: () => undefined,
};
