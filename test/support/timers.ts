import { createHook } from 'node:async_hooks';
import { flush } from './promises.js';

/** A Timeout as the hook sees it: whether it keeps the process alive, and its delay. */
interface Tracked {
  hasRef?(): boolean;
  _idleTimeout?: number;
}

/** Counts live Timeout resources created inside record(), unref'd ones included (which
 * process.getActiveResourcesInfo() does not list). Destroy hooks arrive asynchronously. Each
 * keeps where it was made, so a test that finds one left can say whose it is. */
export function timerTracker() {
  const live = new Map<number, Tracked>();
  const made = new Map<number, string>();
  let created = 0;
  let recording = false;
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (recording && type === 'Timeout') {
        live.set(id, resource);
        made.set(id, whereMade());
        created++;
      }
    },
    destroy(id) {
      live.delete(id);
      made.delete(id);
    },
  }).enable();
  /** The live tracked timers but those `ignore` picks by where they were made. */
  const left = (ignore: (madeAt: string) => boolean): [number, Tracked][] =>
    [...live].filter(([id]) => !ignore(made.get(id) ?? ''));
  return {
    /** Counts every Timeout created from now until end(), whoever creates it. */
    begin(): void {
      recording = true;
    },
    end(): void {
      recording = false;
    },
    record<T>(fn: () => T): T {
      recording = true;
      try {
        return fn();
      } finally {
        recording = false;
      }
    },
    get live() {
      return live.size;
    },
    /** Live tracked timers that keep the process alive (not unref'd). */
    get refed() {
      return [...live.values()].filter((t) => t.hasRef?.() !== false).length;
    },
    get created() {
      return created;
    },
    /** The live tracked timers but those `ignore` picks by where they were made: each one's
     * delay and where it was made. */
    describe(ignore: (madeAt: string) => boolean = () => false): string[] {
      return left(ignore).map(([id, t]) => `Timeout of ${t._idleTimeout ?? '?'} ms, made at\n${made.get(id)}`);
    },
    /** Waits, by deadline, for the live count (but those `ignore` picks) to reach n; returns the
     * last count seen. */
    async settleTo(n: number, timeoutMs = 1000, ignore?: (madeAt: string) => boolean): Promise<number> {
      const count = (): number => (ignore ? left(ignore).length : live.size);
      const deadline = Date.now() + timeoutMs;
      while (count() !== n && Date.now() < deadline) await flush();
      return count();
    },
    stop() {
      hook.disable();
    },
  };
}

/** The stack of whoever made the timer being initialised, below the hook's own frames (deep
 * enough to reach past Node's timer internals, whatever Error.stackTraceLimit says). */
function whereMade(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 20;
  try {
    return new Error().stack?.split('\n').slice(3, 17).join('\n') ?? '';
  } finally {
    Error.stackTraceLimit = limit;
  }
}
