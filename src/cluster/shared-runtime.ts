import type { InformerOptions } from '../cache/informer.js';
import type { ClusterClient } from '../client/cluster-client.js';
import type { EngineMetrics } from '../metrics/engine-metrics.js';
import type { FairLimiter } from '../queue/fair-limiter.js';

/**
 * What the root app hands to every cluster context. These objects are shared, so they carry no
 * NestJS lifecycle hooks (a useValue provider receives the hooks of every context it is in):
 * only the root closes the manage client.
 */
export interface SharedRuntime {
  manageClient: ClusterClient;
  limiter: FairLimiter;
  metrics: EngineMetrics;
  informerOptions?: InformerOptions;
  /** How long a stopping cluster waits for its reconciles to return after aborting them. */
  stopGraceMs: number;
}
