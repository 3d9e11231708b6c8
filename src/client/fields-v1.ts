/**
 * managedFields' field sets (FieldsV1), parsed once per distinct value and shared, frozen.
 *
 * Why: a FieldsV1 tree names fields, not values, so every replica of a workload written by the
 * same managers carries the same one; kept per object it is a third of a cached Pod (about twenty
 * small objects each). controller-runtime's cache keeps managedFields, so ours does too, and shares
 * them. Frozen, as a tree shared between objects must not be changed through one of them.
 *
 * Bounded: a value longer than MAX_SHARED_CHARS is parsed and not shared, and once the texts held
 * pass MAX_HELD_CHARS the table starts over (what caches hold stays shared; only new objects build
 * the new table), so a server sending endless distinct values costs a bounded table.
 */
const MAX_SHARED_CHARS = 16 * 1024;
const MAX_HELD_CHARS = 1024 * 1024;

const byText = new Map<string, unknown>();
let heldChars = 0;

function deepFreeze(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function remember(text: string, value: unknown): unknown {
  if (text.length > MAX_SHARED_CHARS) return value;
  if (heldChars + text.length > MAX_HELD_CHARS) {
    byText.clear();
    heldChars = 0;
  }
  deepFreeze(value);
  byText.set(text, value);
  heldChars += text.length;
  return value;
}

/** The shared FieldsV1 for its JSON text (as protobuf carries it). Throws what JSON.parse throws. */
export function fieldsV1FromText(text: string): unknown {
  const known = byText.get(text);
  if (known !== undefined) return known;
  return remember(text, JSON.parse(text));
}

/** The shared FieldsV1 equal to a parsed one (as JSON carries it): the value itself when it is the
 * first of its kind. */
export function sharedFieldsV1(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  const text = JSON.stringify(value);
  const known = byText.get(text);
  if (known !== undefined) return known;
  return remember(text, value);
}

/** How many distinct values are held (for tests). */
export function sharedFieldsV1Count(): number {
  return byText.size;
}
