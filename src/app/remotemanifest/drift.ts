import type { KubeObject } from '../../index.js';

/**
 * Whether the live object still holds everything the manifest sets: a field changed or removed
 * by someone else is drift; fields others add (defaults, status, their own labels) are not.
 * Scalars compare by text (`1` and `"1"` are the same port); list items by position. A false
 * alarm costs one server-side apply that changes nothing, never a loop.
 */
export function covers(live: KubeObject, desired: KubeObject): boolean {
  const { metadata, status: _status, ...spec } = desired;
  return (
    contains(live.metadata?.labels ?? {}, metadata?.labels ?? {}) &&
    contains(live.metadata?.annotations ?? {}, metadata?.annotations ?? {}) &&
    contains(live, spec)
  );
}

function contains(live: unknown, desired: unknown): boolean {
  // null asks for the field to be absent; the server drops empty maps and lists.
  if (desired === null) return live === null || live === undefined;
  if (typeof desired === 'object' && Object.keys(desired).length === 0) return true;
  if (typeof desired !== 'object') {
    return live === desired || (isScalar(live) && isScalar(desired) && String(live) === String(desired));
  }
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length >= desired.length && desired.every((d, i) => contains(live[i], d));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  return Object.entries(desired).every(([k, v]) => contains((live as Record<string, unknown>)[k], v));
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}
