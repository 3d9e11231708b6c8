import type { KubeObject } from '../../index.js';
import type { FeedbackRule, ObjectCondition, ObjectStatus } from './api.js';
import { parseJsonPath, scalarAt } from './json-path.js';

/** What is mirrored of an object's own status: bounded, since any controller writes it. */
const MAX_CONDITIONS = 16;
const MAX_MESSAGE = 1024;

type LiveFields = Pick<ObjectStatus, 'generation' | 'observedGeneration' | 'conditions' | 'feedback'>;

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, MAX_MESSAGE) : undefined;
}

/** The conditions an object reports (`status.conditions`), well-formed ones only. */
function conditionsOf(status: Record<string, unknown>): ObjectCondition[] | undefined {
  if (!Array.isArray(status.conditions)) return undefined;
  const conditions: ObjectCondition[] = [];
  for (const c of status.conditions as Record<string, unknown>[]) {
    if (typeof c?.type !== 'string' || typeof c.status !== 'string') continue;
    const reason = text(c.reason);
    const message = text(c.message);
    conditions.push({ type: c.type, status: c.status, ...(reason ? { reason } : {}), ...(message ? { message } : {}) });
    if (conditions.length === MAX_CONDITIONS) break;
  }
  return conditions.length ? conditions : undefined;
}

/** Generation, observedGeneration, conditions and feedback values of a live object. */
export function liveFields(live: KubeObject, rules: FeedbackRule[]): LiveFields {
  const status = (typeof live.status === 'object' && live.status !== null ? live.status : {}) as Record<
    string,
    unknown
  >;
  const fields: LiveFields = {};
  if (typeof live.metadata?.generation === 'number') fields.generation = live.metadata.generation;
  if (typeof status.observedGeneration === 'number') fields.observedGeneration = status.observedGeneration;
  const conditions = conditionsOf(status);
  if (conditions) fields.conditions = conditions;
  const feedback: Record<string, string> = {};
  for (const rule of rules) {
    if (rule.kind && rule.kind !== live.kind) continue;
    try {
      const value = scalarAt(live, parseJsonPath(rule.jsonPath));
      if (value !== undefined) feedback[rule.name] = value.slice(0, MAX_MESSAGE);
    } catch {
      // An invalid path is reported once on the RemoteManifest (Degraded), not per object.
    }
  }
  if (Object.keys(feedback).length) fields.feedback = feedback;
  return fields;
}

/** Kinds whose controller always reports observedGeneration: until it does, they are not
 * rolled out. Other kinds (an Ingress, a custom resource nobody reconciles) may never report it. */
const REPORTING = new Set(['apps/Deployment', 'apps/StatefulSet', 'apps/DaemonSet', 'apps/ReplicaSet']);

function behind(o: ObjectStatus): boolean {
  if (o.generation === undefined) return false;
  if (o.observedGeneration !== undefined) return o.observedGeneration < o.generation;
  return REPORTING.has(`${o.apiVersion.split('/')[0]}/${o.kind}`);
}

/**
 * Available: applied, its controller has seen its current generation (when it reports one), and
 * its own Available or Ready condition, when it has one, is True. A ConfigMap is available once
 * applied; a Deployment once its controller has seen it and says it is available.
 */
export function isAvailable(o: ObjectStatus): boolean {
  if (!o.applied || behind(o)) return false;
  return !(o.conditions ?? []).some((c) => (c.type === 'Available' || c.type === 'Ready') && c.status !== 'True');
}

/** Why an object is not available, in a few words. */
export function unavailableBecause(o: ObjectStatus): string {
  if (!o.applied) return `not applied (${o.reason})`;
  if (behind(o)) {
    return o.observedGeneration === undefined
      ? `generation ${o.generation} not observed by its controller yet`
      : `observedGeneration ${o.observedGeneration} < generation ${o.generation}`;
  }
  const c = (o.conditions ?? []).find((x) => (x.type === 'Available' || x.type === 'Ready') && x.status !== 'True');
  return c ? `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}` : 'available';
}
