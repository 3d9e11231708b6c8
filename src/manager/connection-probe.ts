import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, failureReason, type FailureReason } from '../client/errors.js';
import { Backoff } from '../queue/backoff.js';

export interface ProbeState {
  ok: boolean;
  error?: { reason: FailureReason; message: string; since: Date };
}

/**
 * GET /version now and then. Every authenticated user may read it, so a failure is about the
 * connection or the credentials, which is what an operator needs to know first; and a cluster
 * whose runtime has no watches is still checked.
 */
export class ConnectionProbe {
  private current: ProbeState = { ok: false };
  private timer?: NodeJS.Timeout;
  private readonly waiters = new Set<() => void>();
  private readonly backoff = new Backoff({ baseMs: 500, maxMs: 30_000, jitter: 0.2 });

  constructor(
    private readonly client: ClusterClient,
    private readonly intervalMs: number,
    private readonly signal: AbortSignal,
  ) {}

  state(): ProbeState {
    return { ...this.current };
  }

  start(): void {
    void this.check();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Resolves after the first successful check; rejects when `signal` aborts first. */
  waitOk(signal: AbortSignal): Promise<void> {
    if (this.current.ok) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.waiters.delete(done);
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal.aborted) return onAbort();
      this.waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async check(): Promise<void> {
    let delay: number;
    try {
      await this.client.request('GET', '/version', { signal: this.signal, timeoutMs: 10_000 });
      this.current = { ok: true };
      this.backoff.reset();
      for (const waiter of this.waiters) waiter();
      this.waiters.clear();
      delay = this.intervalMs;
    } catch (err) {
      if (this.signal.aborted) return;
      const message = describeFailure(err);
      const since = this.current.error?.message === message ? this.current.error.since : new Date();
      this.current = { ok: false, error: { reason: failureReason(err), message, since } };
      delay = Math.min(this.intervalMs, this.backoff.next());
    }
    if (this.signal.aborted) return;
    this.timer = setTimeout(() => void this.check(), delay);
    this.timer.unref();
  }
}
