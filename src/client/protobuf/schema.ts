import { KINDS, MESSAGES } from './schema.generated.js';

/** How one protobuf value becomes the JSON value an apiserver would have sent. */
export enum ValueType {
  String,
  Bool,
  Int,
  Bytes,
  Time,
  MicroTime,
  Quantity,
  IntOrString,
  RawJson,
  Message,
  /** A named list with a message of its own (ExtraValue): its field 1, as an array. */
  List,
  Map,
}

/** Flags of a field, as scripts/protobuf-schema writes them. */
const REPEATED = 1;
const OMIT_EMPTY = 2;
const POINTER = 4;
const INLINE = 8;
const OMIT_ZERO = 16;

/**
 * How one value is read: a field of a message (with its JSON name and rules), or a map's key or
 * value (where those rules keep their defaults). One class for both, every property always set
 * in the same order: the decoder's hot loop then reads objects of one shape.
 */
export class FieldCodec {
  json = '';
  repeated = false;
  /** A present value that JSON leaves out all the same: omitempty on a string, bool, number or
   * byte slice that is not a pointer, whose value is zero (Kubernetes' protobuf writes those). */
  dropZero = false;
  /** omitzero (times only): a zero time is left out, not null. */
  omitZero = false;
  /** An embedded struct whose fields JSON writes into the parent. */
  inline = false;
  /** ObjectMeta's managedFields: skipped unread when the cache would drop it anyway. */
  managedFields = false;
  /** ManagedFieldsEntry's fieldsV1: one frozen value shared by every object that has the same,
   * when the decode asks for it (see client/fields-v1.ts). */
  sharedJson = false;

  constructor(
    readonly type: ValueType,
    /** For Message and List. */
    readonly message?: MessageCodec,
    /** For Map. */
    readonly key?: FieldCodec,
    readonly value?: FieldCodec,
  ) {}
}

export type ValueCodec = FieldCodec;

export interface MessageCodec {
  name: string;
  /** By field number. */
  fields: (FieldCodec | undefined)[];
  /** What Go's JSON writes for this struct when a field is absent: [name, zero value maker]. */
  zeros: [string, () => unknown][];
  /** Its repeated fields' names (inline structs' included): their arrays are trimmed when done. */
  lists: string[];
}

const messages = new Map<string, MessageCodec>();

/** Scalars Go's encoding/json leaves out under omitempty when zero (slices and maps when empty,
 * pointers when nil; never structs). */
const SCALARS = new Set([ValueType.String, ValueType.Bool, ValueType.Int, ValueType.Bytes]);

function valueCodec(code: string): ValueCodec {
  const colon = code.indexOf(':');
  const head = colon === -1 ? code : code.slice(0, colon);
  const rest = code.slice(colon + 1);
  switch (head) {
    case 'string':
      return new FieldCodec(ValueType.String);
    case 'bool':
      return new FieldCodec(ValueType.Bool);
    case 'int':
      return new FieldCodec(ValueType.Int);
    case 'bytes':
      return new FieldCodec(ValueType.Bytes);
    case 'time':
      return new FieldCodec(ValueType.Time);
    case 'microtime':
      return new FieldCodec(ValueType.MicroTime);
    case 'quantity':
      return new FieldCodec(ValueType.Quantity);
    case 'intorstring':
      return new FieldCodec(ValueType.IntOrString);
    case 'rawjson':
      return new FieldCodec(ValueType.RawJson);
    case 'm':
      return new FieldCodec(ValueType.Message, messageCodec(rest));
    case 'list':
      return new FieldCodec(ValueType.List, messageCodec(rest));
    case 'map': {
      // map:<key>:<value>, keys are scalars (no colon).
      const split = rest.indexOf(':');
      return new FieldCodec(
        ValueType.Map,
        undefined,
        valueCodec(rest.slice(0, split)),
        valueCodec(rest.slice(split + 1)),
      );
    }
  }
  throw new Error(`protobuf schema: unknown type ${code}`);
}

/** The zero value Go's JSON writes for a field of this codec (struct fields are never omitted). */
function zeroOf(codec: ValueCodec): () => unknown {
  switch (codec.type) {
    case ValueType.String:
      return () => '';
    case ValueType.Bool:
      return () => false;
    case ValueType.Int:
    case ValueType.IntOrString:
      return () => 0;
    case ValueType.Quantity:
      return () => '0';
    case ValueType.Message: {
      const message = codec.message!;
      return () => zeroObject(message);
    }
    default:
      // Nil slices, maps, byte slices, times and raw extensions are null.
      return () => null;
  }
}

/** A struct as Go's JSON writes it with every field zero. */
export function zeroObject(message: MessageCodec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const zeros = message.zeros;
  for (let i = 0; i < zeros.length; i++) out[zeros[i]![0]] = zeros[i]![1]();
  return out;
}

/** The codec of a message, compiled from the generated table on first use (lazily, as most of
 * the table's ~1,800 messages are never met). */
export function messageCodec(name: string): MessageCodec {
  let message = messages.get(name);
  if (message) return message;
  const spec = MESSAGES[name];
  if (spec === undefined) throw new Error(`protobuf schema: no message ${name}`);
  message = { name, fields: [], zeros: [], lists: [] };
  // Registered before its fields: a message may refer to itself through a pointer.
  messages.set(name, message);
  for (const entry of spec === '' ? [] : spec.split(' ')) {
    const [num, json, code, flagText] = entry.split(',') as [string, string, string, string];
    const flags = Number(flagText);
    const codec = valueCodec(code);
    const repeated = (flags & REPEATED) !== 0;
    const pointer = (flags & POINTER) !== 0;
    const omitEmpty = (flags & OMIT_EMPTY) !== 0;
    const scalar = !repeated && !pointer && SCALARS.has(codec.type);
    const field = codec;
    field.json = json;
    field.repeated = repeated;
    field.dropZero = omitEmpty && scalar;
    field.omitZero = (flags & OMIT_ZERO) !== 0;
    field.inline = (flags & INLINE) !== 0;
    field.managedFields = name === 'meta/v1.ObjectMeta' && json === 'managedFields';
    field.sharedJson = name === 'meta/v1.ManagedFieldsEntry' && json === 'fieldsV1';
    message.fields[Number(num)] = field;
    // What JSON shows when the field is absent: nothing (omitempty on what it applies to, or
    // omitzero), its zero (a value or a struct), or null (a nil pointer, slice or map).
    const omittedWhenAbsent =
      field.omitZero || (omitEmpty && (repeated || pointer || scalar || codec.type === ValueType.Map));
    if (repeated) message.lists.push(json);
    if (field.inline) {
      // Its fields are the parent's in JSON, zeros included.
      message.zeros.push(...codec.message!.zeros);
      message.lists.push(...codec.message!.lists);
    } else if (!omittedWhenAbsent) {
      message.zeros.push([json, repeated || pointer ? () => null : zeroOf(codec)]);
    }
  }
  return message;
}

/** The message of a kind the table knows ("v1/Pod", "apps/v1/Deployment"), else undefined. */
export function kindCodec(apiVersion: string, kind: string): MessageCodec | undefined {
  const name = KINDS[`${apiVersion}/${kind}`];
  return name === undefined ? undefined : messageCodec(name);
}

let codeGeneration: boolean | undefined;

/** The decoders are compiled from the table (decode.ts): a process run with
 * --disallow-code-generation-from-strings cannot make them, and watches JSON instead. */
function canGenerateCode(): boolean {
  if (codeGeneration === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a probe, nothing run
      new Function('');
      codeGeneration = true;
    } catch {
      codeGeneration = false;
    }
  }
  return codeGeneration;
}

/** Whether the apiserver can send this kind as protobuf and the table can read it. */
export function servedAsProtobuf(apiVersion: string, kind: string): boolean {
  return KINDS[`${apiVersion}/${kind}`] !== undefined && canGenerateCode();
}
