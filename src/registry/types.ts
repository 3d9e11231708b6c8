import type { FailureReason } from '../client/errors.js';
import type { WatchStatus } from '../manager/controller-manager.js';

/**
 * starting: the context is being created, or its caches have not listed yet;
 * synced: every watch has listed and none is failing;
 * degraded: a watch is failing (cause says why) and retrying;
 * stopping: stop() was called.
 */
export type ClusterPhase = 'starting' | 'synced' | 'degraded' | 'stopping';

export interface ClusterStatus {
  name: string;
  phase: ClusterPhase;
  /** Since when the cluster is in this phase. */
  since: Date;
  cause?: { reason: FailureReason; message: string };
  watches: WatchStatus[];
}

export interface SpawnOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface StopOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}
