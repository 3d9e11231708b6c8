import { Logger } from '@nestjs/common';
import type { Informer } from '../cache/informer.js';
import { keyOf, objectKey, splitKey, type InformerEvent, type KubeObject } from '../cache/types.js';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, failureReason, KubeApiError, retryAfterMs } from '../client/errors.js';
import type { FairLimiter } from '../queue/fair-limiter.js';
import { WorkQueue } from '../queue/work-queue.js';
import { NO_EVENTS, type EventRecorder } from '../events/types.js';
import type { DiscoveredReconciler } from '../reconcile/reconciler.explorer.js';
import type { CacheReader, ReconcileContext, ReconcileResult } from '../reconcile/types.js';
import { sleep } from '../util/abort.js';
import { printable } from '../util/names.js';
import type { EngineMetrics } from './engine-metrics.js';
import type { Scheduler } from './scheduler.js';

export class ReconcileTimeoutError extends Error {
  override readonly name = 'ReconcileTimeoutError';
}

/** Keys whose last reconcile failed, and the last failure: what an operator sees on the cluster. */
export interface ControllerHealth {
  name: string;
  failing: number;
  lastError?: { key: string; reason: string; message: string; at: Date };
}

export interface ControllerDeps {
  cluster: string;
  client: ClusterClient;
  /** The primary kind's informer; none for a reconciler fed by sources and watches only. */
  informer?: Informer;
  /** Informers of the reconciler's `watches`, in the same order. */
  secondary: Informer[];
  limiter: FairLimiter;
  metrics: EngineMetrics;
  scheduler: Scheduler;
  /** Called when the set of failing keys goes from empty to non-empty or back, or the reason changes. */
  onHealthChange?: () => void;
  /** ctx.recorder: this cluster's event recorder, reporting as this controller. */
  recorder?: EventRecorder;
}

/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a reconciler without a primary kind reads as its cache. */
const EMPTY: CacheReader = { get: () => undefined, list: () => [] };

function readerOf(informer: Informer | undefined): CacheReader {
  if (!informer) return EMPTY;
  const store = informer.store;
  return { get: (ns, name) => store.getByName(ns, name), list: (ns) => store.list(ns) };
}

/**
 * One reconcile in flight, and its context. Its AbortController and client view are made only if
 * the reconciler reads `signal` or `client`: most reconciles of a warm cache never do, and these
 * were an eighth of the engine's cost per reconcile. Its deadline is watched by the controller's
 * one expiry timer, not a timer of its own.
 */
class Attempt implements ReconcileContext {
  private controller?: AbortController;
  private view?: ClusterClient;
  private ended?: Error;
  /** Ends the reconcile's wait with this error (set while the reconcile runs). */
  fail?: (err: Error) => void;

  constructor(
    readonly key: string,
    readonly deadlineAt: number,
    private readonly source: ClusterClient,
    readonly cache: CacheReader,
    readonly attempt: number,
    readonly cacheOf: ReconcileContext['cacheOf'],
    readonly recorder: EventRecorder,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(this.ended);
    }
    return this.controller.signal;
  }

  get client(): ClusterClient {
    return (this.view ??= this.source.withSignal(this.signal));
  }

  /** Aborts the signal with `reason` (if anyone holds it) and ends the reconcile's wait with
   * `error`; the first call wins. */
  end(reason: Error, error: Error = reason): void {
    if (this.ended) return;
    this.ended = reason;
    this.controller?.abort(reason);
    this.fail?.(error);
  }
}

/**
 * One reconciler bound to one cluster: informer events become keys in a work queue, and
 * `concurrency` workers take keys, wait for a slot of the process-wide fair limiter, and call
 * reconcile with a deadline. Workers start only once every cache the controller reads has
 * listed (controller-runtime's WaitForCacheSync): before that a reconcile would take a missing
 * object for a deleted one. Failures and timeouts are retried with per-key backoff; nothing a
 * reconciler does can stop the workers or reach other controllers.
 */
export class Controller {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly cache: CacheReader;
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];
  private readonly unsubscribes: (() => void)[] = [];
  /** Keys whose last reconcile failed, in the order of their latest failure (oldest first). */
  private readonly failing = new Map<string, { reason: string; message: string; at: Date }>();
  private readonly resyncName: string;
  /** Reconciles in flight, oldest first: one timeout for all, so deadlines come in this order. */
  private readonly inFlight = new Set<Attempt>();
  private expiry?: NodeJS.Timeout;
  private readonly timeoutMs: number;
  private readonly cacheOfBound: ReconcileContext['cacheOf'];

  constructor(
    private readonly reconciler: DiscoveredReconciler,
    private readonly deps: ControllerDeps,
  ) {
    this.name = reconciler.options.name;
    this.queue = new WorkQueue({
      backoff: reconciler.options.backoff ?? { baseMs: 10, maxMs: 300_000 },
      metrics: deps.metrics.queue(this.name, deps.cluster),
    });
    this.cache = readerOf(deps.informer);
    this.logger = new Logger(`Reconciler ${this.name}@${deps.cluster}`);
    this.resyncName = `clusterregistry/${deps.cluster}/resync/${this.name}`;
    this.timeoutMs = reconciler.options.timeoutMs ?? 60_000;
    this.cacheOfBound = (apiVersion, kind) => this.cacheOf(apiVersion, kind);
  }

  /** Subscribes to its informers at once (events queue up) and starts the workers once every
   * informer it reads has synced. */
  start(): void {
    const predicate = this.reconciler.options.predicate;
    const primary = this.deps.informer;
    if (primary) {
      this.unsubscribes.push(
        primary.on((event: InformerEvent) => {
          if (predicate && !predicate(event)) return;
          this.queue.add(objectKey(event.object));
        }),
      );
    }
    (this.reconciler.options.watches ?? []).forEach((watch, i) => {
      const enqueue = (obj: KubeObject): void => {
        for (const ref of watch.map(obj, this.cache)) this.queue.add(keyOf(ref.namespace, ref.name));
      };
      this.unsubscribes.push(
        this.deps.secondary[i]!.on((event) => {
          try {
            enqueue(event.object);
            // A changed reference must reach the primary object it pointed to before, too.
            if (event.type === 'update') enqueue(event.old);
          } catch (err) {
            this.logger.error(
              `mapping ${watch.kind} ${printable(objectKey(event.object))} failed: ${describeFailure(err)}`,
            );
          }
        }),
      );
    });
    // Objects cached before this controller subscribed (a shared informer) still get reconciled.
    for (const key of primary?.store.keys() ?? []) this.queue.add(key);
    void this.startWhenSynced();
  }

  private async startWhenSynced(): Promise<void> {
    const signal = this.abort.signal;
    try {
      await Promise.all(this.informers().map((i) => i.waitForSync(signal)));
    } catch {
      return; // stopped before the caches synced
    }
    // Stopped in the turn the caches synced: stop() has run its unsubscribes and cancelled the
    // resync already, so subscribing now would leave them behind for good.
    if (signal.aborted) return;
    for (const source of this.reconciler.options.sources ?? []) {
      this.unsubscribes.push(source((ref) => this.queue.add(keyOf(ref.namespace, ref.name))));
    }
    const resyncMs = this.reconciler.options.resyncMs;
    const primary = this.deps.informer;
    if (resyncMs && primary) {
      this.deps.scheduler.every(this.resyncName, resyncMs, () => {
        for (const key of primary.store.keys()) this.queue.add(key);
      });
    }
    const concurrency = Math.max(1, this.reconciler.options.concurrency ?? 1);
    for (let i = 0; i < concurrency; i++) this.workers.push(this.work());
  }

  health(): ControllerHealth {
    return { name: this.name, failing: this.failing.size, lastError: this.latest() };
  }

  /** The most recent failure among keys that still fail (a key that recovered is never named). */
  private latest(): ControllerHealth['lastError'] {
    let last: ControllerHealth['lastError'];
    for (const [key, failure] of this.failing) last = { key, ...failure };
    return last;
  }

  /** Drops queued work, aborts reconciles in flight and waits for the workers, at most `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.deps.scheduler.cancel(this.resyncName);
    const reason = new Error(`controller ${this.name} on ${this.deps.cluster} stopped`);
    this.abort.abort(reason);
    clearTimeout(this.expiry);
    this.expiry = undefined;
    for (const attempt of this.inFlight) attempt.end(reason);
    this.inFlight.clear();
    this.queue.shutDown();
    const grace = new AbortController();
    await Promise.race([Promise.allSettled(this.workers), sleep(graceMs, grace.signal)]);
    grace.abort();
  }

  private async work(): Promise<void> {
    const signal = this.abort.signal;
    for (;;) {
      const key = await this.queue.get(signal);
      if (key === undefined) return;
      let release: () => void;
      try {
        release = await this.deps.limiter.acquire(this.deps.cluster, signal);
      } catch {
        // acquire() rejects only when the controller stops (or its cluster is dropped) while
        // this key waits for a slot: nothing to retry.
        this.queue.done(key);
        continue;
      }
      try {
        await this.process(key, signal);
      } finally {
        release();
        this.queue.done(key);
      }
    }
  }

  /** One reconcile of `key`; never throws (failures are retried through the queue). */
  private async process(key: string, stopSignal: AbortSignal): Promise<void> {
    if (stopSignal.aborted) return;
    const { namespace, name } = splitKey(key);
    const started = performance.now();
    const attempt = new Attempt(
      key,
      started + this.timeoutMs,
      this.deps.client,
      this.cache,
      this.queue.failures(key),
      this.cacheOfBound,
      this.deps.recorder ?? NO_EVENTS,
    );
    this.inFlight.add(attempt);
    this.armExpiry();
    try {
      // The reconcile ends at the deadline (or on stop) even if its code ignores the signal.
      const result = await new Promise<ReconcileResult>((resolve, reject) => {
        attempt.fail = reject;
        Promise.resolve()
          .then(() => this.reconciler.instance.reconcile({ cluster: this.deps.cluster, namespace, name }, attempt))
          .then(resolve, reject);
      });
      this.succeeded(key, result, (performance.now() - started) / 1000);
    } catch (err) {
      if (stopSignal.aborted) return; // stopping: the queue is gone, nothing to retry
      const timedOut = err instanceof ReconcileTimeoutError;
      // A throttled call (429, or a 503 with Retry-After) is not retried before the server asked.
      const delay = this.queue.addRateLimited(key, retryAfterMs(err));
      this.deps.metrics.reconciled(
        this.name,
        this.deps.cluster,
        timedOut ? 'timeout' : 'error',
        (performance.now() - started) / 1000,
      );
      const message = timedOut ? (err as Error).message : describeFailure(err);
      this.recordFailure(key, timedOut ? 'Timeout' : reasonOf(err), message);
      this.logger.warn(`${printable(key)}: ${message}; retry in ${Math.round(delay)} ms`);
    } finally {
      attempt.fail = undefined;
      this.inFlight.delete(attempt);
      // An idle controller holds no timer: one left armed until the deadline would outlive the
      // reconcile by up to timeoutMs, and the process's timer count would follow recent activity.
      if (this.inFlight.size === 0 && this.expiry) {
        clearTimeout(this.expiry);
        this.expiry = undefined;
      }
    }
  }

  /** Arms the one expiry timer for the oldest reconcile in flight, unless it is armed already
   * (a timer that fires early for a reconcile that ended re-arms for the next one; the last one
   * to end clears it). */
  private armExpiry(): void {
    if (this.expiry || this.inFlight.size === 0) return;
    const oldest = this.inFlight.values().next().value!;
    // No deadline (timeoutMs Infinity): no timer. A longer wait than setTimeout takes (it would
    // fire at once) re-arms when it fires.
    if (oldest.deadlineAt === Infinity) return;
    const wait = Math.min(Math.max(0, oldest.deadlineAt - performance.now()), MAX_TIMER_MS);
    this.expiry = setTimeout(() => this.expire(), wait);
    // Like AbortSignal.timeout(): a deadline alone does not keep the process alive.
    this.expiry.unref();
  }

  /** Ends every reconcile past its deadline (the oldest first), then re-arms for the next one. */
  private expire(): void {
    this.expiry = undefined;
    const now = performance.now();
    for (const attempt of this.inFlight) {
      if (attempt.deadlineAt > now) break;
      this.inFlight.delete(attempt);
      attempt.end(
        // What AbortSignal.timeout() aborts with: requests through ctx.client fail as a Timeout.
        new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
        new ReconcileTimeoutError(`reconcile of ${attempt.key} exceeded ${this.timeoutMs} ms`),
      );
    }
    this.armExpiry();
  }

  /** Every cache this controller reads: its primary kind's (if any) and its secondary watches'. */
  private informers(): Informer[] {
    return this.deps.informer ? [this.deps.informer, ...this.deps.secondary] : this.deps.secondary;
  }

  private cacheOf(apiVersion: string, kind: string): CacheReader | undefined {
    const informer = this.informers().find((i) => i.spec.apiVersion === apiVersion && i.spec.kind === kind);
    return informer ? readerOf(informer) : undefined;
  }

  private succeeded(key: string, result: ReconcileResult, seconds: number): void {
    if (this.failing.has(key)) {
      const before = this.latest();
      this.failing.delete(key);
      // What an operator sees changes when nothing fails any more or the last failure is another.
      if (this.latest()?.reason !== before?.reason || this.failing.size === 0) this.deps.onHealthChange?.();
    }
    if (result && result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
      this.queue.forget(key);
      this.queue.addAfter(key, result.requeueAfterMs);
      this.deps.metrics.reconciled(this.name, this.deps.cluster, 'requeue_after', seconds);
    } else if (result && result.requeue) {
      this.queue.addRateLimited(key);
      this.deps.metrics.reconciled(this.name, this.deps.cluster, 'requeue', seconds);
    } else {
      this.queue.forget(key);
      this.deps.metrics.reconciled(this.name, this.deps.cluster, 'success', seconds);
    }
  }

  private recordFailure(key: string, reason: string, message: string): void {
    const before = this.latest();
    // Re-inserted, so the map stays ordered by latest failure.
    this.failing.delete(key);
    this.failing.set(key, { reason, message, at: new Date() });
    if (before === undefined || before.reason !== reason) this.deps.onHealthChange?.();
  }
}

/** The apiserver's Status reason when there is one ("Invalid", "Forbidden"…), else our own. */
function reasonOf(err: unknown): string {
  if (err instanceof KubeApiError && /^[A-Za-z]{1,64}$/.test(err.statusReason)) return err.statusReason;
  return failureReason(err);
}
