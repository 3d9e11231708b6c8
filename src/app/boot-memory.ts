import type { LoggerService } from '@nestjs/common';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What releaseBootMemory waits for and uses. */
export interface BootMemoryOptions {
  /** True once the app is ready; polled every `intervalMs`. */
  ready: () => boolean;
  logger: LoggerService;
  intervalMs?: number;
  /** Gives up after this long without being ready (nothing collected then). */
  timeoutMs?: number;
  /** The full collection, and the process's RSS and V8's committed heap; tests pass their own. */
  collect?: () => void;
  rss?: () => number;
  heap?: () => number;
}

/**
 * Waits for `ready`, then collects once and logs what it returned. Returns a cancel function.
 *
 * Why: the boot (about a thousand modules imported, the Nest graph built, the first lists) grows
 * V8's young generation to its largest size, 32 MiB, and V8 did not give it back while the app
 * then idled (RSS flat over the 40 s measured). One footprint-reducing collection once the app is
 * ready returns it, with the boot's garbage in the old generation: 109.6 → 93.1 MiB for the
 * ready-made app unbundled, 86.4 → 78.3 MiB bundled (bench:app-rss). The young generation grows
 * again when work needs it; a pod with no or few clusters no longer holds the boot's peak. The Go peer's figure is taken the same way
 * (runtime.GC and debug.FreeOSMemory).
 */
export function releaseBootMemory(options: BootMemoryOptions): () => void {
  const { ready, logger, intervalMs = 1_000, timeoutMs = 600_000 } = options;
  const collect = options.collect ?? footprintGc;
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  const heap = options.heap ?? (() => getHeapStatistics().total_heap_size);
  const started = Date.now();
  const timer = setInterval(() => {
    let isReady = false;
    try {
      isReady = ready();
    } catch {
      // A readiness check that throws is not ready; the probe reports why.
    }
    if (!isReady && Date.now() - started < timeoutMs) return;
    clearInterval(timer);
    if (!isReady) return;
    const before = { rss: rss(), heap: heap() };
    const took = performance.now();
    collect();
    const ms = performance.now() - took;
    logger.log(
      `ready: released the boot's memory with one full GC of ${ms.toFixed(0)} ms: RSS ${mib(before.rss)} → ` +
        `${mib(rss())} MiB, V8 heap committed ${mib(before.heap)} → ${mib(heap())} MiB`,
      'Main',
    );
  }, intervalMs);
  // Never what keeps the process alive.
  timer.unref();
  return () => clearInterval(timer);
}

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** V8's full, compacting collection that reduces the footprint ('last-resort'): a regular one
 * shrinks the young generation only when the allocation rate is already low, which it is not
 * just after the boot (measured: a regular one at ready left 32 MiB committed). `gc` is exposed
 * with --expose-gc; otherwise the flag is set now and `gc` taken from a new context (what Jest's
 * leak detector does), so the app needs no node option for it. The benchmarks' memory snapshots
 * use it too: it is what the Go peer's runtime.GC and debug.FreeOSMemory do. */
export function footprintGc(): void {
  let gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
  }
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
