// Collections and statistics for the benches. Imports nothing heavy: the measurement processes of
// bench:peer load it, and their RSS is a figure.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined;
/** A full collection; `node` runs without --expose-gc, so the flag is set at run time. */
export function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

/** The collection a memory snapshot takes: full, and returning what V8 can to the OS (the young
 * generation's spare pages too), as the Go peer's runtime.GC and debug.FreeOSMemory do. A plain
 * gc() leaves the young generation at whatever size the last burst of work grew it to (1 to 32
 * MiB), which is noise in an RSS difference, not memory anything holds. */
export { footprintGc } from '../src/app/boot-memory.js';

export { sleep } from '../src/util/abort.js';

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

export const ms = (x: number): string => `${x.toFixed(x < 10 ? 2 : 1)} ms`;
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
