import type { Condition } from './types.js';
import { sameJson } from '../util/same-json.js';

/** Conditions in a fixed order (Ready first, then by type), so status never churns on order. */
const ORDER = ['Ready', 'ReconcilersHealthy'];

function rank(type: string): number {
  const i = ORDER.indexOf(type);
  return i < 0 ? ORDER.length : i;
}

/** The longest message a condition carries: causes quote what a remote cluster sent (bounded
 * there too), and a status is no place for more than a screenful. */
export const MAX_CONDITION_MESSAGE = 1024;

/** The message in MAX_CONDITION_MESSAGE characters with an ellipsis, never half a surrogate
 * pair (the apiserver would store U+FFFD, and the status would never read back as written). */
function cut(message: string): string {
  let end = MAX_CONDITION_MESSAGE - 1;
  const last = message.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${message.slice(0, end)}…`;
}

/**
 * Sets one condition, keeping lastTransitionTime unless the status changes, and returns the new
 * list in a stable order. Its message is cut to MAX_CONDITION_MESSAGE characters.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date = new Date(),
): Condition[] {
  const current = conditions?.find((c) => c.type === next.type);
  const lastTransitionTime =
    current && current.status === next.status
      ? current.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const message = next.message.length > MAX_CONDITION_MESSAGE ? cut(next.message) : next.message;
  const merged = [...(conditions ?? []).filter((c) => c.type !== next.type), { ...next, message, lastTransitionTime }];
  return merged.sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}

/** True when two condition lists say the same (ignoring nothing but the order of keys: any change
 * is a write). */
export function sameConditions(a: Condition[] | undefined, b: Condition[] | undefined): boolean {
  return sameJson(a ?? [], b ?? []);
}
