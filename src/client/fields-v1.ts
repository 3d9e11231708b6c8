import { randomInt } from 'node:crypto';

/**
 * managedFields' field sets (FieldsV1), parsed once per distinct value and shared, frozen.
 *
 * Why: a FieldsV1 tree names fields, not values, so every replica of a workload written by the
 * same managers carries the same one; kept per object it is a third of a cached Pod (about twenty
 * small objects each). controller-runtime's cache keeps managedFields, so ours does too, and shares
 * them. Frozen, as a tree shared between objects must not be changed through one of them.
 *
 * Found by their bytes (as protobuf carries them, or as JSON.stringify writes a parsed one): a
 * hash of them picks a slot, whose bytes are compared in full, with no string made on a hit. A
 * colliding value replaces the one in its slot.
 *
 * Bounded: a value longer than MAX_SHARED_BYTES is parsed and not shared (frozen all the same), and
 * once the bytes held would pass MAX_HELD_BYTES the table starts over (what caches hold stays
 * shared; only new objects build the new table), so a server sending endless distinct values costs
 * a bounded table: 1 MiB of bytes, and their parsed trees, several times that. The hash is seeded
 * per process, so a server cannot pick values that meet in one slot; it can still make the table
 * start over often, which costs other clusters' new objects their sharing, not more memory.
 */
const MAX_SHARED_BYTES = 16 * 1024;
const MAX_HELD_BYTES = 1024 * 1024;
const SLOT_BITS = 10;
const SEED = randomInt(2 ** 32);

const slotBytes: (Buffer | undefined)[] = new Array<Buffer | undefined>(1 << SLOT_BITS).fill(undefined);
const slotValues: unknown[] = new Array<unknown>(1 << SLOT_BITS).fill(undefined);
let heldBytes = 0;
let held = 0;

/** With a list of its own, not recursion: a shared value of 16 KiB may nest 8,192 arrays deep. */
function deepFreeze(value: unknown): unknown {
  const pending = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (next !== null && typeof next === 'object' && !Object.isFrozen(next)) {
      Object.freeze(next);
      for (const child of Object.values(next)) pending.push(child);
    }
  }
  return value;
}

function slotOf(buf: Buffer, start: number, end: number): number {
  // Every byte (FNV-1a): values that differ in one key must not meet in one slot and evict each
  // other for ever.
  let hash = 0x811c9dc5 ^ SEED;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
  return hash >>> (32 - SLOT_BITS);
}

function known(slot: number, buf: Buffer, start: number, end: number): boolean {
  const bytes = slotBytes[slot];
  return bytes !== undefined && bytes.length === end - start && buf.compare(bytes, 0, bytes.length, start, end) === 0;
}

function remember(slot: number, buf: Buffer, start: number, end: number, value: unknown): unknown {
  const length = end - start;
  if (length > MAX_SHARED_BYTES) return deepFreeze(value);
  const old = slotBytes[slot];
  if (old !== undefined) {
    heldBytes -= old.length;
    held--;
  }
  if (heldBytes + length > MAX_HELD_BYTES) {
    slotBytes.fill(undefined);
    slotValues.fill(undefined);
    heldBytes = 0;
    held = 0;
  }
  // A copy of its own: a slice would keep the whole response (or a pooled slab) alive.
  const bytes = Buffer.allocUnsafeSlow(length);
  buf.copy(bytes, 0, start, end);
  slotBytes[slot] = bytes;
  slotValues[slot] = deepFreeze(value);
  heldBytes += length;
  held++;
  return value;
}

/**
 * The slots found last, tried before hashing: a list holds a workload's replicas one after
 * another, each with the same few entries (one per manager), so most values are among them and
 * cost one compare instead of a hash over every byte. A miss costs at most one compare per recent
 * slot whose value has the same length.
 */
const RECENT = 4;
const recent = new Int32Array(RECENT).fill(-1);
let nextRecent = 0;

/** The slot that holds buf[start, end), or, when none does, -1 - the slot its hash picks. */
function lookup(buf: Buffer, start: number, end: number): number {
  for (let i = 0; i < RECENT; i++) {
    const slot = recent[i]!;
    if (slot >= 0 && known(slot, buf, start, end)) return slot;
  }
  const slot = slotOf(buf, start, end);
  recent[nextRecent] = slot;
  nextRecent = (nextRecent + 1) % RECENT;
  return known(slot, buf, start, end) ? slot : -1 - slot;
}

/** The shared FieldsV1 for its JSON bytes, buf[start, end) (as protobuf carries them). Throws
 * what JSON.parse throws. */
export function fieldsV1FromBytes(buf: Buffer, start: number, end: number): unknown {
  const found = lookup(buf, start, end);
  if (found >= 0) return slotValues[found];
  return remember(-1 - found, buf, start, end, JSON.parse(buf.toString('utf8', start, end)));
}

/** The shared FieldsV1 equal to a parsed one (as JSON carries it): the value itself when it is the
 * first of its kind. */
export function sharedFieldsV1(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  let buf: Buffer;
  try {
    buf = Buffer.from(JSON.stringify(value));
  } catch {
    // Nested deeper than JSON.stringify's stack (JSON.parse reads any depth): not shared.
    return deepFreeze(value);
  }
  const found = lookup(buf, 0, buf.length);
  if (found >= 0) return slotValues[found];
  return remember(-1 - found, buf, 0, buf.length, value);
}

/** How many distinct values are held (for tests). */
export function sharedFieldsV1Count(): number {
  return held;
}
