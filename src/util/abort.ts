// The one set of abort and time helpers the engine uses: a deadline that is released when the
// work is over, signal composition, an abortable wait, an abortable sleep and a one-shot latch.

/** The reason a signal carries, as an Error (AbortSignal allows any value). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error
    ? reason
    : new DOMException(typeof reason === 'string' ? reason : 'aborted', 'AbortError');
}

/** Calls `fn` once when `signal` aborts (at once if it already has); returns the unsubscribe. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * A signal that aborts when any given signal does or when `timeoutMs` passes; clear() releases
 * it once the work is over. It is linked to its sources by listeners that clear() removes, never
 * by AbortSignal.any(): Node keeps every signal made by any() (and, until it fires, every
 * AbortSignal.timeout() handed to it) reachable from its long-lived sources until those abort,
 * about a kilobyte per call; a client or controller doing this per request grows without bound.
 */
export interface Deadline {
  signal: AbortSignal;
  /** True when this deadline's own time ran out (not one of the given signals). */
  readonly expired: boolean;
  clear(): void;
}

export function deadline(timeoutMs: number | undefined, ...signals: (AbortSignal | undefined)[]): Deadline {
  const controller = new AbortController();
  const offs: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const clear = (): void => {
    clearTimeout(timer);
    for (const off of offs) off();
    offs.length = 0;
  };
  for (const source of signals) {
    if (!source) continue;
    if (source.aborted) {
      controller.abort(source.reason);
      break;
    }
    offs.push(
      onAbort(source, () => {
        controller.abort(source.reason);
        clear();
      }),
    );
  }
  if (!controller.signal.aborted && timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
    timer = setTimeout(() => {
      expired = true;
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      clear();
    }, timeoutMs);
    // Like AbortSignal.timeout(): a deadline alone does not keep the process alive.
    timer.unref();
  }
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear,
  };
}

/** Resolves with `work`, or rejects with the signal's reason when it aborts first. The work goes
 * on; `orphan` receives its value if it arrives later (to close what nobody will use). */
export function abortable<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  orphan?: (value: T) => void,
): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(signal, () => {
      if (orphan) work.then(orphan, () => undefined);
      else work.catch(() => undefined);
      reject(abortReason(signal));
    });
    work.then(
      (value) => {
        off();
        resolve(value);
      },
      (err: unknown) => {
        off();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Waits `ms`, or less if `signal` aborts first; never rejects (retry loops check the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    const off = signal ? onAbort(signal, done) : () => undefined;
    function done(): void {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
}

/** A one-shot event: wait() resolves once open() was called, or rejects when its signal aborts.
 * The informer's first sync and a runtime's first sync are latches. */
export class Latch {
  private opened = false;
  private readonly waiters = new Set<() => void>();

  get isOpen(): boolean {
    return this.opened;
  }

  open(): void {
    if (this.opened) return;
    this.opened = true;
    for (const waiter of this.waiters) waiter();
    this.waiters.clear();
  }

  wait(signal?: AbortSignal): Promise<void> {
    if (this.opened) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        off();
        resolve();
      };
      const off = signal
        ? onAbort(signal, () => {
            this.waiters.delete(done);
            reject(abortReason(signal));
          })
        : () => undefined;
      if (signal?.aborted) return;
      this.waiters.add(done);
    });
  }
}
