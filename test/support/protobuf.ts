// A few lines of protobuf encoding, to write what an apiserver would send in tests.

/** A varint; negative numbers as 64-bit two's complement (10 bytes), as Go writes int32 and int64. */
export function varint(n: number): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return Buffer.from(out);
}

const tag = (num: number, wire: number): Buffer => varint((num << 3) | wire);

/** A length-delimited field: a string, bytes or an embedded message. */
export function bytes(num: number, value: string | Buffer): Buffer {
  const b = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([tag(num, 2), varint(b.length), b]);
}

export const str = bytes;

export function msg(num: number, ...fields: Buffer[]): Buffer {
  return bytes(num, Buffer.concat(fields));
}

export function int(num: number, n: number): Buffer {
  return Buffer.concat([tag(num, 0), varint(n)]);
}

export const bool = (num: number, b: boolean): Buffer => int(num, b ? 1 : 0);

/** A map entry of field `num`: key 1, value 2. */
export function entry(num: number, key: string, value: Buffer | string): Buffer {
  return msg(num, str(1, key), typeof value === 'string' ? str(2, value) : value);
}

/** An object in Kubernetes' envelope: "k8s\0" and runtime.Unknown (typeMeta, raw). */
export function envelope(apiVersion: string, kind: string, ...fields: Buffer[]): Buffer {
  return Buffer.concat([
    Buffer.from([0x6b, 0x38, 0x73, 0x00]),
    msg(1, str(1, apiVersion), str(2, kind)),
    bytes(2, Buffer.concat(fields)),
  ]);
}

/** One frame of a protobuf watch stream: a 4-byte big-endian length and a meta/v1.WatchEvent. */
export function watchFrame(type: string, object: Buffer): Buffer {
  const event = Buffer.concat([str(1, type), msg(2, bytes(1, object))]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(event.length);
  return Buffer.concat([head, event]);
}
