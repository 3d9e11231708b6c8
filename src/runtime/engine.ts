import type { InformerOptions } from '../cache/informer.js';
import type { ClusterEventRecorderOptions } from '../events/event-recorder.js';
import type { EngineMetrics } from '../manager/engine-metrics.js';
import type { FairLimiter } from '../queue/fair-limiter.js';

/**
 * The process-wide parts every cluster runtime uses, made once in the root: the fair limiter
 * all clusters share, the metrics, and the defaults of each runtime. Shared with every cluster
 * context, so it carries no NestJS lifecycle hooks (a useValue provider would receive the hooks
 * of every context it is in).
 */
export interface Engine {
  limiter: FairLimiter;
  metrics: EngineMetrics;
  informerOptions?: InformerOptions;
  /** How long a stopping runtime waits for its reconciles to return after aborting them. */
  stopGraceMs: number;
  /** How often each runtime's access probe runs. */
  probeIntervalMs: number;
  /** How each cluster's event recorder writes (reporting instance, queue, aggregation, rate limit). */
  events?: EngineEventOptions;
}

export type EngineEventOptions = Pick<
  ClusterEventRecorderOptions,
  'reportingInstance' | 'queueSize' | 'aggregationWindowMs' | 'rateLimit'
>;
