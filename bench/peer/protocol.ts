// What both sides' processes print and write, in the Go peer's formats: one `RESULT {json}` line
// per figure, `READY` when a long-running mode is up, and latency times as little-endian float64
// CLOCK_MONOTONIC nanoseconds (process.hrtime reads the same clock as the peer's unix.ClockGettime).
import { readFileSync, writeFileSync } from 'node:fs';

export type Side = 'ts' | 'go';

/** A RESULT line's object; `mode` and `side` always, the rest per mode. */
export type Result = Record<string, unknown> & { mode: string; side: Side };

export function printResult(value: Record<string, unknown> & { mode: string }): void {
  process.stdout.write(`RESULT ${JSON.stringify({ ...value, side: 'ts' })}\n`);
}

/** The Result of a `RESULT {json}` line, or undefined for any other line. */
export function parseResult(line: string): Result | undefined {
  if (!line.startsWith('RESULT ')) return undefined;
  return JSON.parse(line.slice('RESULT '.length)) as Result;
}

/** CLOCK_MONOTONIC in nanoseconds, as a float64 (exact for 104 days of uptime). */
export const mono = (): number => Number(process.hrtime.bigint());

export function writeTimes(path: string, ...arrays: Float64Array[]): void {
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const out = new Float64Array(total);
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  // Float64Array is host-endian; every platform Node and the peer run on here is little-endian.
  writeFileSync(path, new Uint8Array(out.buffer));
}

/** `count` arrays of `length` times each, as written by writeTimes or the peer's writeTimes. */
export function readTimes(path: string, count: number, length: number): Float64Array[] {
  const bytes = readFileSync(path);
  if (bytes.length !== count * length * 8) {
    throw new Error(`${path}: ${bytes.length} bytes, expected ${count} x ${length} float64`);
  }
  const all = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return Array.from({ length: count }, (_, i) => all.subarray(i * length, (i + 1) * length));
}

/** The peer's flag syntax (`-name value`, `-name=value`, `--name …`), so both sides take the same
 * arguments. */
export function parseFlags(args: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-')) throw new Error(`unexpected argument ${arg}`);
    const name = arg.replace(/^--?/, '');
    const eq = name.indexOf('=');
    if (eq >= 0) flags.set(name.slice(0, eq), name.slice(eq + 1));
    else {
      const value = args[++i];
      if (value === undefined) throw new Error(`flag ${arg} needs a value`);
      flags.set(name, value);
    }
  }
  return flags;
}
