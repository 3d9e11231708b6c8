/** A request's deadline. */
export interface Deadline {
  /** Aborts with a TimeoutError (as AbortSignal.timeout() does) once the time is up. */
  signal: AbortSignal;
  /** The request is over: drop the timer. */
  clear(): void;
}

/**
 * Like AbortSignal.timeout(), but released as soon as the work is over. Node keeps every timeout
 * signal handed to AbortSignal.any() alive, with its timer, until it fires: a client that sends
 * many requests would hold each one's signal, timer and weak references for the whole timeout
 * (60 s by default) after the answer came back.
 */
export function deadline(timeoutMs: number): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    timeoutMs,
  );
  // Like AbortSignal.timeout(): a deadline alone does not keep the process alive.
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** Waits `ms`, or less if `signal` aborts first; never rejects (retry loops check the signal). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
