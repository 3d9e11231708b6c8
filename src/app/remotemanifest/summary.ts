import type { Condition } from '../../index.js';
import { REMOVING, type ClusterManifestStatus, type ObjectStatus, type RemoteManifestStatus } from './api.js';
import { describeId } from './markers.js';
import { isAvailable, unavailableBecause } from './object-state.js';

/** A selected cluster as the manage side sees it. */
export type Target =
  { cluster: string; state: 'Ready' } | { cluster: string; state: 'NotFound' | 'NotReady'; message: string };

export interface SummaryInput {
  generation: number;
  targets: Target[];
  /** Set when a clusterSelector selects nothing: its description. */
  emptySelector?: string;
  /** The clusters' own reports (status.clusters). */
  entries: ClusterManifestStatus[];
  /** Clusters no longer selected whose objects could not be removed yet. */
  releasing: { cluster: string; message: string }[];
  /** Status feedback rules that do not parse. */
  feedbackErrors: string[];
}

export type ConditionValue = Pick<Condition, 'status' | 'reason' | 'message'>;

export interface Summary {
  applied: ConditionValue;
  available: ConditionValue;
  degraded: ConditionValue;
  counts: NonNullable<RemoteManifestStatus['summary']>;
}

/** At most a few items in a message, then how many more. */
function list(items: string[], max = 3): string {
  const shown = items.slice(0, max).join('; ');
  return items.length > max ? `${shown}; and ${items.length - max} more` : shown;
}

const where = (cluster: string, o: ObjectStatus): string => `${cluster}: ${describeId(o)}`;

/**
 * Applied, Available and Degraded from the clusters' reports and the selection. Applied is True
 * only once every selected cluster reported the current generation with every object applied,
 * so "Applied" also means "status mirrored".
 */
export function summarize(input: SummaryInput): Summary {
  const entries = new Map(input.entries.map((e) => [e.cluster, e]));
  const notFound = input.targets.filter((t) => t.state === 'NotFound');
  const notReady = input.targets.filter((t) => t.state === 'NotReady');
  const pending: string[] = [];
  const failed: { cluster: string; object: ObjectStatus }[] = [];
  const unavailable: string[] = [];
  const counts = { clusters: input.targets.length, objects: 0, applied: 0, available: 0 };
  for (const target of input.targets) {
    if (target.state !== 'Ready') continue;
    const entry = entries.get(target.cluster);
    if (!entry || entry.observedGeneration !== input.generation) {
      pending.push(target.cluster);
      continue;
    }
    for (const object of entry.objects) {
      counts.objects++;
      if (object.applied) counts.applied++;
      else failed.push({ cluster: target.cluster, object });
      if (isAvailable(object)) counts.available++;
      else if (object.applied) unavailable.push(`${where(target.cluster, object)}: ${unavailableBecause(object)}`);
    }
  }

  const waiting = [
    ...notFound.map((t) => `RemoteCluster ${t.cluster} does not exist`),
    ...notReady.map((t) => `${t.cluster} is not Ready (${'message' in t ? t.message : ''})`),
  ];
  let applied: ConditionValue;
  if (input.targets.length === 0) {
    applied = {
      status: 'False',
      reason: 'NoClusterSelected',
      message: `no RemoteCluster matches clusterSelector ${input.emptySelector ?? ''}`.trim(),
    };
  } else if (failed.length > 0) {
    const reasons = new Set(failed.map((f) => f.object.reason));
    const items = failed.map((f) => `${where(f.cluster, f.object)}: ${f.object.message ?? f.object.reason}`);
    applied = {
      status: 'False',
      reason: reasons.size === 1 ? [...reasons][0]! : 'ApplyFailed',
      message: list([...items, ...waiting]),
    };
  } else if (notReady.length > 0 || notFound.length > 0) {
    applied = {
      status: 'False',
      reason: notReady.length > 0 ? 'ClusterNotReady' : 'ClusterNotFound',
      message: `waiting: ${list(waiting)}`,
    };
  } else if (pending.length > 0) {
    applied = { status: 'False', reason: 'Progressing', message: `waiting for ${list(pending)} to report` };
  } else {
    applied = {
      status: 'True',
      reason: 'Applied',
      message: `${counts.applied} object(s) applied to ${counts.clusters} cluster(s)`,
    };
  }

  const available: ConditionValue =
    unavailable.length > 0
      ? { status: 'False', reason: 'NotAvailable', message: list(unavailable) }
      : applied.status !== 'True'
        ? { status: 'False', reason: 'NotApplied', message: 'not every object is applied yet (see Applied)' }
        : { status: 'True', reason: 'Available', message: `${counts.available} object(s) available` };

  const problems: { reason: string; message: string }[] = [];
  if (failed.length > 0) problems.push({ reason: applied.reason, message: applied.message });
  if (notReady.length > 0) {
    problems.push({ reason: 'ClusterNotReady', message: list(notReady.map((t) => `${t.cluster} is not Ready`)) });
  }
  if (input.releasing.length > 0) {
    problems.push({
      reason: 'CleanupPending',
      message: `could not remove objects from clusters no longer selected: ${list(input.releasing.map((r) => `${r.cluster}: ${r.message}`))}`,
    });
  }
  // Removals that failed (one under way is no problem yet): the objects are still there.
  const stuck = input.entries.flatMap((e) =>
    (e.removals ?? [])
      .filter((r) => r.reason !== REMOVING)
      .map((r) => `${e.cluster}: ${describeId(r)}: ${r.message ?? r.reason}`),
  );
  if (stuck.length > 0) {
    problems.push({ reason: 'RemovalPending', message: `not removed yet (no longer listed): ${list(stuck)}` });
  }
  if (input.feedbackErrors.length > 0) {
    problems.push({ reason: 'InvalidStatusFeedback', message: list(input.feedbackErrors) });
  }
  const degraded: ConditionValue = problems.length
    ? {
        status: 'True',
        reason: problems[0]!.reason,
        message: list(
          problems.map((p) => p.message),
          4,
        ),
      }
    : { status: 'False', reason: 'AsExpected', message: '' };

  return { applied, available, degraded, counts };
}
