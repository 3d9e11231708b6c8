import type { ApplyResult } from './manifest-hub.js';
import { nameKey, sameKey, type ObjectId } from './markers.js';

/** Answers that say an object is not there for us, as opposed to a cluster we cannot reach. */
export const REFUSALS = new Set(['KindNotServed', 'Forbidden', 'NotFound', 'Error']);

/** Failed applies whose object is someone else's (AlreadyExists, Conflict) or out of our reach. */
const NOT_OURS = new Set(['AlreadyExists', 'Conflict', ...REFUSALS]);

/** An apply's outcome as the status or this process records it. */
export interface AppliedRecord {
  applied: boolean;
  reason: string;
  owned?: boolean;
}

/**
 * Whether an apply's outcome may have left an object of ours in the cluster: applied, or failed
 * with `owned` (the object was found ours, the write may have landed, or it was ours before).
 * A failure without `owned` was recorded before failures said it: what the reason allows.
 */
export function mayBeOurs(record: AppliedRecord): boolean {
  if (record.applied || record.owned !== undefined) return record.applied || record.owned === true;
  return !NOT_OURS.has(record.reason);
}

/**
 * Failed applies that learnt nothing of their object's owner (the cluster did not answer,
 * discovery or the read failed, a create was refused) keep what was known before, `before`
 * being the objects this RemoteManifest may have there. A result the cluster never located is also
 * matched by group, kind and name with a recorded object without a namespace (a cluster-scoped
 * kind ignores the manifest's namespace). With no record of it, a failure says `owned: false`:
 * an object applied and never recorded is the one case the record cannot cover.
 */
export function inheritOwned(results: ApplyResult[], before: ObjectId[]): ApplyResult[] {
  const located = new Set(before.map(sameKey));
  // By name only what was recorded without a namespace (cluster-scoped, or never located either).
  const named = new Set(before.filter((id) => !id.namespace).map(nameKey));
  return results.map((r) =>
    r.applied || r.owned !== undefined
      ? r
      : { ...r, owned: located.has(sameKey(r.id)) || (!r.desired && named.has(nameKey(r.id))) },
  );
}
