import { createHook } from 'node:async_hooks';
import { flush } from './promises.js';

/** Counts live Timeout resources created inside record(), unref'd ones included (which
 * process.getActiveResourcesInfo() does not list). Destroy hooks arrive asynchronously. */
export function timerTracker() {
  const live = new Map<number, { hasRef?(): boolean }>();
  let created = 0;
  let recording = false;
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (recording && type === 'Timeout') {
        live.set(id, resource);
        created++;
      }
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
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
    /** Waits, by deadline, for the live count to reach n; returns the last count seen. */
    async settleTo(n: number, timeoutMs = 1000): Promise<number> {
      const deadline = Date.now() + timeoutMs;
      while (live.size !== n && Date.now() < deadline) await flush();
      return live.size;
    },
    stop() {
      hook.disable();
    },
  };
}
