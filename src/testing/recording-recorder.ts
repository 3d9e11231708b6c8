import type { KubeObject } from '../cache/types.js';
import type { EventOptions, EventRecorder, EventType, ObjectReference } from '../events/types.js';

/** An event as a reconciler recorded it. */
export interface RecordedEvent {
  regarding: { apiVersion?: string; kind?: string; namespace?: string; name?: string };
  type: EventType;
  reason: string;
  note: string;
  action?: string;
  related?: { apiVersion?: string; kind?: string; namespace?: string; name?: string };
  /** The reporting controller (forController() views record theirs). */
  controller: string;
}

function refOf(object: KubeObject | ObjectReference): RecordedEvent['regarding'] {
  const meta = (object as KubeObject).metadata;
  if (!meta) {
    const { apiVersion, kind, namespace, name } = object as ObjectReference;
    return { apiVersion, kind, namespace, name };
  }
  return { apiVersion: object.apiVersion, kind: object.kind, namespace: meta.namespace, name: meta.name };
}

/** An EventRecorder that keeps every event in `events`, for unit tests (ReconcilerHarness gives
 * one to every reconcile as ctx.recorder). Nothing is aggregated or limited. */
export class RecordingEventRecorder implements EventRecorder {
  constructor(
    readonly events: RecordedEvent[] = [],
    private readonly controller = 'test',
  ) {}

  event(
    regarding: KubeObject | ObjectReference,
    type: EventType,
    reason: string,
    note: string,
    options: EventOptions = {},
  ): void {
    this.events.push({
      regarding: refOf(regarding),
      type,
      reason,
      note,
      ...(options.action ? { action: options.action } : {}),
      ...(options.related ? { related: refOf(options.related) } : {}),
      controller: this.controller,
    });
  }

  normal(regarding: KubeObject | ObjectReference, reason: string, note: string, options?: EventOptions): void {
    this.event(regarding, 'Normal', reason, note, options);
  }

  warning(regarding: KubeObject | ObjectReference, reason: string, note: string, options?: EventOptions): void {
    this.event(regarding, 'Warning', reason, note, options);
  }

  forController(controller: string): RecordingEventRecorder {
    return new RecordingEventRecorder(this.events, controller);
  }
}
