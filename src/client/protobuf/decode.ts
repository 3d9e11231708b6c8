import { fieldsV1FromBytes } from '../fields-v1.js';
import { kindCodec, ValueType, zeroObject, type FieldCodec, type MessageCodec, type ValueCodec } from './schema.js';

/** Bytes that are not what the schema says: the message names the check, never the content. */
export class ProtobufDecodeError extends Error {
  override readonly name: string = 'ProtobufDecodeError';
}

/** Kubernetes' protobuf envelope: these four bytes, then a runtime.Unknown. */
const MAGIC = [0x6b, 0x38, 0x73, 0x00];
/** Deeper than any built-in kind nests (a Pod is about 10); a bound on what a server can make us do. */
const MAX_DEPTH = 64;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const TWO_32 = 4294967296;

// The cursor: one decode runs to completion before another starts (it never awaits), so module
// state is safe, and V8 reads it faster than an object's fields.
const NOTHING = Buffer.alloc(0);
let buf: Buffer = NOTHING;
let pos = 0;
/** This decode's choices: leave ObjectMeta.managedFields out; share their field sets (see
 * DecodeOptions). */
let dropManagedFields = false;
let shareFieldSets = false;

/** A varint as a JavaScript number: int32 and int64 (two's complement over 10 bytes). */
function varint(end: number): number {
  let lo = 0;
  let shift = 0;
  let b: number;
  // The first four bytes fill 28 bits of the low word.
  do {
    if (pos >= end) throw new ProtobufDecodeError('varint runs past its message');
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) return lo >>> 0;
  } while (shift < 28);
  // The fifth byte: 4 bits for the low word, 3 for the high one.
  if (pos >= end) throw new ProtobufDecodeError('varint runs past its message');
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  let hi = (b & 0x7f) >> 4;
  if (b < 0x80) return hi * TWO_32 + (lo >>> 0);
  shift = 3;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw new ProtobufDecodeError('varint runs past its message');
    b = buf[pos++]!;
    hi |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) return (hi | 0) * TWO_32 + (lo >>> 0);
  }
  throw new ProtobufDecodeError('varint longer than 10 bytes');
}

/** A length-delimited value: returns its end, with the cursor at its start. */
function span(end: number): number {
  const length = varint(end);
  // varint() reads int64: a 10-byte length comes back negative, and would move the cursor back
  // (to its own tag: a decode that never ends).
  if (length < 0) throw new ProtobufDecodeError('length out of range');
  if (length > end - pos) throw new ProtobufDecodeError('length runs past its message');
  return pos + length;
}

function skip(wire: number, end: number): void {
  switch (wire) {
    case WIRE_VARINT:
      varint(end);
      return;
    case WIRE_FIXED64:
      advance(8, end);
      return;
    case WIRE_BYTES:
      pos = span(end);
      return;
    case WIRE_FIXED32:
      advance(4, end);
      return;
  }
  throw new ProtobufDecodeError(`wire type ${wire} is not used by Kubernetes`);
}

function advance(n: number, end: number): void {
  if (end - pos < n) throw new ProtobufDecodeError('value runs past its message');
  pos += n;
}

/** Node's own UTF-8 decoding of a range (what toString('utf8', …) calls, without its checks). */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };

/**
 * Short ASCII strings seen, by a hash of their bytes, each kept once: names, enum values and label
 * values repeat across the objects of a cache, and JSON.parse shares them too (V8 internalizes
 * short string values). A hit makes no new string at all. A fixed table: a colliding string
 * replaces the one in its slot, so a server sending endless distinct values costs nothing more.
 */
const INTERN_BITS = 12;
const interned: (string | undefined)[] = new Array<string | undefined>(1 << INTERN_BITS).fill(undefined);
const INTERN_MAX_BYTES = 16;

/** A string field. */
function utf8(start: number, end: number): string {
  const length = end - start;
  if (length > INTERN_MAX_BYTES) return (buf as Utf8Sliceable).utf8Slice(start, end);
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
  const slot = hash >>> (32 - INTERN_BITS);
  const known = interned[slot];
  if (known !== undefined && known.length === length) {
    let i = 0;
    while (i < length && known.charCodeAt(i) === buf[start + i]) i++;
    if (i === length) return known;
  }
  const text = (buf as Utf8Sliceable).utf8Slice(start, end);
  // As many characters as bytes: ASCII, whose characters compare with the bytes above.
  if (text.length === length) interned[slot] = text;
  return text;
}

/** The last seconds formatted, "Z" included: the objects of one stream share few distinct times,
 * and then one string (creationTimestamp and each managedFields time of a cache). */
const times = new Map<number, string>();
const MAX_TIMES = 4096;

/** "2006-01-02T15:04:05Z" (metav1.Time) or with six digits of microseconds (metav1.MicroTime). */
function rfc3339(seconds: number, nanos: number, micro: boolean): string {
  let iso = times.get(seconds);
  if (iso === undefined) {
    const date = new Date(seconds * 1000);
    const year = date.getUTCFullYear();
    if (!(year >= 0 && year <= 9999)) throw new ProtobufDecodeError('time out of range');
    iso = `${date.toISOString().slice(0, 19)}Z`;
    if (times.size >= MAX_TIMES) times.clear();
    times.set(seconds, iso);
  }
  if (!micro) return iso;
  if (nanos < 0 || nanos > 999_999_999) throw new ProtobufDecodeError('nanos out of range');
  return `${iso.slice(0, 19)}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`;
}

function expectWire(field: ValueCodec, wire: number, expected: number): void {
  if (wire !== expected) {
    throw new ProtobufDecodeError(`wire type ${wire} where ${ValueType[field.type]} needs ${expected}`);
  }
}

/** One value of a field (or of a map entry) at the cursor, which ends before `end`. */
function readValue(codec: ValueCodec, wire: number, end: number, depth: number): unknown {
  const type = codec.type;
  if (type === ValueType.String) {
    expectWire(codec, wire, WIRE_BYTES);
    const stop = span(end);
    const start = pos;
    pos = stop;
    return utf8(start, stop);
  }
  if (type === ValueType.Int) {
    expectWire(codec, wire, WIRE_VARINT);
    return varint(end);
  }
  if (type === ValueType.Bool) {
    expectWire(codec, wire, WIRE_VARINT);
    return varint(end) !== 0;
  }
  expectWire(codec, wire, WIRE_BYTES);
  const stop = span(end);
  if (type === ValueType.Message) {
    if (depth >= MAX_DEPTH) throw new ProtobufDecodeError(`nested deeper than ${MAX_DEPTH}`);
    return decoderOf(codec.message!)(stop, depth + 1);
  }
  const start = pos;
  switch (type) {
    case ValueType.Bytes:
      pos = stop;
      return buf.toString('base64', start, stop);
    case ValueType.List: {
      if (depth >= MAX_DEPTH) throw new ProtobufDecodeError(`nested deeper than ${MAX_DEPTH}`);
      return decoderOf(codec.message!)(stop, depth + 1, {})[''] ?? [];
    }
    case ValueType.Time:
    case ValueType.MicroTime: {
      // An empty Timestamp is a zero time: null in JSON. Time keeps whole seconds (as its Unmarshal).
      if (start === stop) return null;
      let seconds = 0;
      let nanos = 0;
      while (pos < stop) {
        const tag = varint(stop);
        if (tag === 8) seconds = varint(stop);
        else if (tag === 16) nanos = varint(stop);
        else skip(tag & 7, stop);
      }
      return rfc3339(seconds, nanos, type === ValueType.MicroTime);
    }
    case ValueType.Quantity: {
      let text = '0';
      while (pos < stop) {
        const tag = varint(stop);
        if (tag === 10) {
          const e = span(stop);
          text = utf8(pos, e);
          pos = e;
        } else skip(tag & 7, stop);
      }
      return text;
    }
    case ValueType.IntOrString: {
      let isString = false;
      let intVal = 0;
      let strVal = '';
      while (pos < stop) {
        const tag = varint(stop);
        if (tag === 8) isString = varint(stop) === 1;
        else if (tag === 16) intVal = varint(stop) | 0;
        else if (tag === 26) {
          const e = span(stop);
          strVal = utf8(pos, e);
          pos = e;
        } else skip(tag & 7, stop);
      }
      return isString ? strVal : intVal;
    }
    case ValueType.RawJson: {
      // RawExtension and FieldsV1 hold JSON that JSON output embeds as it is.
      let raw: unknown = null;
      while (pos < stop) {
        const tag = varint(stop);
        if (tag === 10) {
          const e = span(stop);
          try {
            raw =
              codec.sharedJson && shareFieldSets
                ? fieldsV1FromBytes(buf, pos, e)
                : JSON.parse(buf.toString('utf8', pos, e));
          } catch {
            throw new ProtobufDecodeError('an embedded object is not JSON');
          }
          pos = e;
        } else skip(tag & 7, stop);
      }
      return raw;
    }
  }
  throw new ProtobufDecodeError(`${ValueType[type]} cannot be a single value`);
}

/** A map value the entry left out: what Go's unmarshalling leaves in the map, as JSON. */
function entryZero(codec: ValueCodec): unknown {
  switch (codec.type) {
    case ValueType.Message:
      return zeroObject(codec.message!);
    case ValueType.String:
    case ValueType.Bytes:
      return '';
    case ValueType.Quantity:
      return '0';
    case ValueType.Int:
    case ValueType.IntOrString:
      return 0;
    case ValueType.Bool:
      return false;
    case ValueType.List:
      return [];
  }
  return null;
}

/** Map entries are messages of key (1) and value (2); a missing value is its zero. */
function readEntry(field: FieldCodec, map: Record<string, unknown>, end: number, depth: number): void {
  const stop = span(end);
  let key = '';
  let value: unknown;
  while (pos < stop) {
    const tag = varint(stop);
    const num = tag >>> 3;
    if (num === 1) key = String(readValue(field.key!, tag & 7, stop, depth + 1));
    else if (num === 2) value = readValue(field.value!, tag & 7, stop, depth + 1);
    else skip(tag & 7, stop);
  }
  const entryValue = value === undefined ? entryZero(field.value!) : value;
  // An own property, as JSON.parse makes it: assigning "__proto__" would set the map's prototype.
  if (key === '__proto__')
    Object.defineProperty(map, key, { value: entryValue, enumerable: true, writable: true, configurable: true });
  else map[key] = entryValue;
}

/** A message's decoder: reads its fields from the cursor to `end` into `into` (the caller made
 * it with the zeros: an inline struct's parent, an envelope) or into a new object with them. */
type MessageDecoder = (end: number, depth: number, into?: Record<string, unknown>) => Record<string, unknown>;

const decoders = new Map<MessageCodec, MessageDecoder>();

/** The decoder of a message, compiled on first use. */
function decoderOf(message: MessageCodec): MessageDecoder {
  let decoder = decoders.get(message);
  if (!decoder) {
    decoder = compileDecoder(message);
    decoders.set(message, decoder);
  }
  return decoder;
}

/** What generated decoders call: the cursor's helpers (they cannot see this module's variables). */
const helpers = {
  more: (end: number): boolean => pos < end,
  varint,
  span,
  skip,
  str(end: number): string {
    const stop = span(end);
    const start = pos;
    pos = stop;
    return utf8(start, stop);
  },
  value: readValue,
  entry: readEntry,
  decoderOf,
  dropping: (): boolean => dropManagedFields,
  deeper(depth: number): void {
    if (depth > MAX_DEPTH) throw new ProtobufDecodeError(`nested deeper than ${MAX_DEPTH}`);
  },
  ended(end: number): void {
    if (pos !== end) throw new ProtobufDecodeError('message runs past its length');
  },
  /** A tag no case took: a field newer than the table (JSON would show it and we cannot name it,
   * so the caller goes back to JSON), or a known one in a wire type its type does not use. */
  unexpected(message: MessageCodec, tag: number): never {
    const field = message.fields[tag >>> 3];
    if (field === undefined) throw new ProtobufDecodeError(`field ${tag >>> 3} of ${message.name} is not in the table`);
    const wire = tag & 7;
    expectWire(field, wire, field.inline || field.type === ValueType.Map ? WIRE_BYTES : wireOf(field.type));
    throw new ProtobufDecodeError(`wire type ${wire} is not used by ${ValueType[field.type]}`);
  },
};

/** A property name from the generated table, safe to write into generated source. */
function propertyName(json: string): string {
  // Never "__proto__" (a store would set the prototype) nor anything but a plain JSON name.
  if (!/^[A-Za-z0-9_$.-]*$/.test(json) || json === '__proto__') {
    throw new Error(`protobuf schema: ${JSON.stringify(json)} is not a field name`);
  }
  return JSON.stringify(json);
}

const wireOf = (type: ValueType): number =>
  type === ValueType.Int || type === ValueType.Bool ? WIRE_VARINT : WIRE_BYTES;

/**
 * A decoder made for one message (source generated from its table, compiled by V8): each field
 * is a `case` of its tag, written to a property named in the source. A generic loop that looks
 * fields up and writes `out[field.json]` made every store megamorphic; this is about 1.4 times as
 * fast, and objects get their properties in the order JSON.parse gives them (zeros first).
 * The source comes only from the generated table (names checked by propertyName), never from
 * what a server sends.
 */
function compileDecoder(message: MessageCodec): MessageDecoder {
  /** Values the source refers to by index: field codecs (F) and nested decoders (D, lazy). */
  const codecs: FieldCodec[] = [];
  const nested: MessageDecoder[] = [];
  const nestedIndex = new Map<MessageCodec, number>();
  const codecRef = (field: FieldCodec): string => `F[${codecs.push(field) - 1}]`;
  const decoderRef = (m: MessageCodec): string => {
    let i = nestedIndex.get(m);
    if (i === undefined) {
      i = nested.length;
      nestedIndex.set(m, i);
      // Compiled when first called: a message may contain itself, and most branches are never met.
      nested.push((end, depth, into) => (nested[i!] = decoderOf(m))(end, depth, into));
    }
    return `D[${i}]`;
  };
  const zeroMakers: (() => unknown)[] = [];
  const zeros = message.zeros.map(([json, make]) => {
    const zero = make();
    const name = propertyName(json);
    // Scalars and null as literals; a struct's zero is made fresh for each object.
    if (zero === null || typeof zero !== 'object') return `${name}: ${JSON.stringify(zero)}`;
    return `${name}: Z[${zeroMakers.push(make) - 1}]()`;
  });
  const cases: string[] = [];
  for (let num = 0; num < message.fields.length; num++) {
    const field = message.fields[num];
    if (field === undefined) continue;
    const name = propertyName(field.json);
    const tag = (wire: number): number => num * 8 + wire;
    const skipManaged = field.managedFields ? `if (H.dropping()) { H.skip(2, end); break; }` : '';
    if (field.inline) {
      cases.push(`case ${tag(WIRE_BYTES)}: ${decoderRef(field.message!)}(H.span(end), depth + 1, o); break;`);
      continue;
    }
    if (field.type === ValueType.Map) {
      cases.push(
        `case ${tag(WIRE_BYTES)}: { let m = o[${name}]; if (m == null) o[${name}] = m = {}; ` +
          `H.entry(${codecRef(field)}, m, end, depth); break; }`,
      );
      continue;
    }
    const wire = wireOf(field.type);
    let value: string;
    switch (field.type) {
      case ValueType.String:
        value = 'H.str(end)';
        break;
      case ValueType.Int:
        value = 'H.varint(end)';
        break;
      case ValueType.Bool:
        value = '(H.varint(end) !== 0)';
        break;
      case ValueType.Message:
        value = `${decoderRef(field.message!)}(H.span(end), depth + 1)`;
        break;
      default:
        value = `H.value(${codecRef(field)}, ${wire}, end, depth)`;
    }
    const list = `let l = o[${name}]; if (l == null) o[${name}] = l = [];`;
    if (field.repeated) {
      cases.push(`case ${tag(wire)}: { ${skipManaged} ${list} l.push(${value}); break; }`);
      if (wire === WIRE_VARINT) {
        // Packed: one length-delimited run of values.
        const packed = field.type === ValueType.Bool ? '(H.varint(stop) !== 0)' : 'H.varint(stop)';
        cases.push(
          `case ${tag(WIRE_BYTES)}: { ${list} const stop = H.span(end); while (H.more(stop)) l.push(${packed}); break; }`,
        );
      }
      continue;
    }
    // Left out as JSON leaves it out: omitempty on a zero scalar, omitzero on a zero time.
    const keep = field.dropZero
      ? {
          [ValueType.String]: "v !== ''",
          [ValueType.Bytes]: "v !== ''",
          [ValueType.Int]: 'v !== 0',
          [ValueType.Bool]: 'v',
        }[field.type as number]
      : field.omitZero
        ? 'v !== null'
        : undefined;
    if (field.dropZero && keep === undefined) throw new Error(`protobuf schema: omitempty on ${ValueType[field.type]}`);
    cases.push(
      `case ${tag(wire)}: { ${skipManaged} const v = ${value}; ${keep ? `if (${keep}) ` : ''}o[${name}] = v; break; }`,
    );
  }
  // Arrays grown by push keep spare room (16 slots and more); the cache keeps them, so each
  // becomes an exact copy, as JSON.parse makes them.
  const trims = message.lists.map((json) => {
    const name = propertyName(json);
    return `{ const l = o[${name}]; if (Array.isArray(l)) o[${name}] = l.slice(); }`;
  });
  const source = `
    return function decode(end, depth, into) {
      H.deeper(depth);
      const o = into === undefined ? { ${zeros.join(', ')} } : into;
      while (H.more(end)) {
        const tag = H.varint(end);
        switch (tag) {
          ${cases.join('\n')}
          default: H.unexpected(M, tag);
        }
      }
      H.ended(end);
      ${trims.join('\n')}
      return o;
    };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- source made from the generated table only
  const make = new Function('H', 'M', 'F', 'D', 'Z', source) as (
    h: typeof helpers,
    m: MessageCodec,
    f: FieldCodec[],
    d: MessageDecoder[],
    z: (() => unknown)[],
  ) => MessageDecoder;
  return make(helpers, message, codecs, nested, zeroMakers);
}

let lastKind: { apiVersion: string; kind: string; codec: MessageCodec | undefined } = {
  apiVersion: '',
  kind: '',
  codec: undefined,
};

export interface DecodeOptions {
  /** Leave ObjectMeta.managedFields out, unread (its bytes are still checked to be well formed):
   * for a cache that drops it anyway (stripManagedFields). A third of a Pod. */
  dropManagedFields?: boolean;
  /** Give each managedFields entry the one frozen fieldsV1 shared by every object with the same
   * bytes (client/fields-v1.ts): for the cache's default transform, which would share it anyway.
   * Otherwise each object gets a tree of its own, which its reader may change. */
  shareFieldSets?: boolean;
}

export interface DecodedObject {
  apiVersion: string;
  kind: string;
  object: Record<string, unknown>;
}

/**
 * An object in Kubernetes' protobuf envelope ("k8s\0", then runtime.Unknown: its apiVersion and
 * kind, and the object's bytes), decoded into the JSON shape the apiserver would have sent, with
 * apiVersion and kind set. Throws ProtobufDecodeError for bytes that are not that, and for a kind
 * the table does not know.
 */
export function decodeObject(bytes: Buffer, start = 0, end = bytes.length, options: DecodeOptions = {}): DecodedObject {
  try {
    return readObject(bytes, start, end, options);
  } finally {
    released();
  }
}

/** The cursor lets go of the bytes once a decode is over: they are a server's, and may be large. */
function released(): void {
  buf = NOTHING;
  pos = 0;
}

/** decodeObject's work, leaving the cursor at `end` (a watch event reads on after it). */
function readObject(bytes: Buffer, start: number, end: number, options: DecodeOptions): DecodedObject {
  // Compared in JS: a Buffer.compare per object cost more than the check.
  if (end - start < MAGIC.length || MAGIC.some((byte, i) => bytes[start + i] !== byte)) {
    throw new ProtobufDecodeError('no protobuf envelope');
  }
  buf = bytes;
  pos = start + MAGIC.length;
  dropManagedFields = options.dropManagedFields === true;
  shareFieldSets = options.shareFieldSets === true;
  let apiVersion = '';
  let kind = '';
  let rawStart = -1;
  let rawEnd = -1;
  while (pos < end) {
    const tag = varint(end);
    if (tag === 10) {
      const stop = span(end);
      while (pos < stop) {
        const t = varint(stop);
        if (t === 10 || t === 18) {
          const e = span(stop);
          const text = utf8(pos, e);
          pos = e;
          if (t === 10) apiVersion = text;
          else kind = text;
        } else skip(t & 7, stop);
      }
    } else if (tag === 18) {
      rawEnd = span(end);
      rawStart = pos;
      pos = rawEnd;
    } else if (tag === 26 || tag === 34) {
      // contentEncoding, contentType: an encoded object (gzip…) is not one we can read.
      const stop = span(end);
      if (stop > pos) throw new ProtobufDecodeError('object has a content encoding or type of its own');
    } else skip(tag & 7, end);
  }
  // A stream sends one kind: the last one's codec is looked up once.
  if (apiVersion !== lastKind.apiVersion || kind !== lastKind.kind) {
    lastKind = { apiVersion, kind, codec: kindCodec(apiVersion, kind) };
  }
  const codec = lastKind.codec;
  if (!codec) throw new ProtobufDecodeError('kind not in the protobuf table');
  const object: Record<string, unknown> = { kind, apiVersion };
  Object.assign(object, zeroObject(codec));
  if (rawStart >= 0) {
    pos = rawStart;
    decoderOf(codec)(rawEnd, 0, object);
  }
  pos = end;
  return { apiVersion, kind, object };
}

/** A watch event (meta/v1.WatchEvent: type, and the object as a RawExtension in the envelope). */
export function decodeWatchEventMessage(
  bytes: Buffer,
  options: DecodeOptions = {},
): { type: string; object: DecodedObject } {
  try {
    return readWatchEvent(bytes, options);
  } finally {
    released();
  }
}

function readWatchEvent(bytes: Buffer, options: DecodeOptions): { type: string; object: DecodedObject } {
  buf = bytes;
  pos = 0;
  const end = bytes.length;
  let type = '';
  let object: DecodedObject | undefined;
  while (pos < end) {
    const tag = varint(end);
    if (tag === 10) {
      const stop = span(end);
      type = utf8(pos, stop);
      pos = stop;
    } else if (tag === 18) {
      const stop = span(end);
      while (pos < stop) {
        const t = varint(stop);
        if (t === 10) {
          const e = span(stop);
          // readObject moves the shared cursor to e.
          object = readObject(bytes, pos, e, options);
        } else skip(t & 7, stop);
      }
    } else skip(tag & 7, end);
  }
  if (!object) throw new ProtobufDecodeError('watch event without an object');
  return { type, object };
}
