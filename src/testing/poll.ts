import { sleep } from '../util/abort.js';

export { pollUntil } from '../envtest/http.js';

/** One turn of the event loop: every settled promise has run its callbacks. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Polls until `read` returns a value other than undefined, null or false (so a predicate works
 * too: `() => isReady()`), or fails with the last error. */
export async function eventually<T>(
  what: string,
  read: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await read();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const cause = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`${what}: not true after ${timeoutMs} ms${cause}`);
    }
    await sleep(intervalMs);
  }
}
