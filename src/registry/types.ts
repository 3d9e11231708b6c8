import type { FailureReason } from '../client/errors.js';
import type { ControllerHealth } from '../manager/controller.js';
import type { WatchStatus } from '../manager/controller-manager.js';

/**
 * starting: the context is being created, or its caches have not listed yet;
 * synced: every watch has listed and nothing is failing;
 * degraded: a watch or the access probe is failing (cause says why) and retrying;
 * stopping: stop() was called; stopped: gone from the registry (only seen in transitions).
 */
export type ClusterPhase = 'starting' | 'synced' | 'degraded' | 'stopping' | 'stopped';

export interface ClusterCause {
  /** A FailureReason, or the access probe's "Forbidden". */
  reason: FailureReason;
  message: string;
}

/** A change of phase, recorded when it happens. */
export interface ClusterTransition {
  cluster: string;
  from?: ClusterPhase;
  to: ClusterPhase;
  at: Date;
  cause?: ClusterCause;
}

export interface ClusterStatus {
  name: string;
  phase: ClusterPhase;
  /** Since when the cluster is in this phase. */
  since: Date;
  cause?: ClusterCause;
  /** What the runtime was started with (a hash of its connection, never its content). */
  identity?: string;
  watches: WatchStatus[];
  /** Reconcilers with keys whose last reconcile failed. */
  controllers: ControllerHealth[];
  /** Its periodic work by name, as the cluster context's SchedulerRegistry lists it. */
  intervals: string[];
  /** The last phase changes, oldest first. */
  transitions: ClusterTransition[];
}

export interface SpawnOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface StopOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}
