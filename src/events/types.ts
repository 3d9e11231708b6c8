import type { KubeObject } from '../cache/types.js';

/** The two types of Kubernetes Event. */
export type EventType = 'Normal' | 'Warning';

/** An object an event is about (events.k8s.io/v1 `regarding` and `related`). */
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export interface EventOptions {
  /** What was done or failed (events.k8s.io `action`, at most 128 characters); default: the reason. */
  action?: string;
  /** A second object the event concerns (events.k8s.io `related`). */
  related?: KubeObject | ObjectReference;
}

/**
 * Records Kubernetes Events (events.k8s.io/v1) about objects of one cluster, in that cluster, as
 * client-go's recorder does: identical events within the aggregation window become one Event
 * whose `series.count` grows, writes per object are rate limited, and nothing blocks or throws:
 * an event the API refuses, or that does not fit the queue or the rate limit, is dropped and
 * counted (`clusterregistry_events_dropped_total{cluster,reason}`).
 *
 * Inject it with `@Inject(EVENT_RECORDER)` (in a cluster context: that cluster's; in the root
 * app: the manage cluster's), or use `ctx.recorder` in a reconcile, which reports as the
 * reconciler.
 */
export interface EventRecorder {
  /** Records an event about `regarding`. Returns at once; never throws. `note` is at most 1024
   * characters (longer is cut), `reason` a short UpperCamelCase word. */
  event(
    regarding: KubeObject | ObjectReference,
    type: EventType,
    reason: string,
    note: string,
    options?: EventOptions,
  ): void;
  normal(regarding: KubeObject | ObjectReference, reason: string, note: string, options?: EventOptions): void;
  warning(regarding: KubeObject | ObjectReference, reason: string, note: string, options?: EventOptions): void;
  /** The same recorder (same cluster, queue and limits) reporting as `controller`
   * (events.k8s.io `reportingController`, shown as "From" by kubectl describe). */
  forController(controller: string): EventRecorder;
}

/** Why an event did not reach the API. */
export type EventDropReason =
  /** The recorder's queue was full (the API is slower than the events). */
  | 'QueueFull'
  /** The object's rate limit was spent (burst 25, then one every 5 minutes). */
  | 'RateLimited'
  /** The API refused it (403 without RBAC for events, 422 invalid…): not retried. */
  | 'Rejected'
  /** The API did not answer or failed (5xx, 429, timeouts) after the retries. */
  | 'Failed'
  /** Still queued when the recorder closed. */
  | 'Shutdown';

export const EVENT_DROP_REASONS: readonly EventDropReason[] = [
  'QueueFull',
  'RateLimited',
  'Rejected',
  'Failed',
  'Shutdown',
];

/** What a recorder reports; implemented by PrometheusMetrics. */
export interface EventMetrics {
  /** An event was recorded (aggregated or not, whether or not it reaches the API). */
  recorded?(type: EventType): void;
  dropped?(reason: EventDropReason): void;
}

/** What a recorder did since it was made. */
export interface EventRecorderStats {
  /** Events recorded (each occurrence, including those aggregated into a series). */
  recorded: number;
  /** Event objects created in the API. */
  created: number;
  /** Series updates (PATCH of series.count) sent. */
  patched: number;
  dropped: Record<EventDropReason, number>;
  /** Waiting to be written now. */
  queued: number;
}

/** Records nothing: the recorder of a runtime made without one (tests, benchmarks). */
export const NO_EVENTS: EventRecorder = {
  event: () => undefined,
  normal: () => undefined,
  warning: () => undefined,
  forController: () => NO_EVENTS,
};
