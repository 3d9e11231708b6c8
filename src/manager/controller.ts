import { Logger } from '@nestjs/common';
import type { Informer } from '../cache/informer.js';
import { keyOf, objectKey, splitKey, type InformerEvent, type KubeObject } from '../cache/types.js';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, failureReason, KubeApiError } from '../client/errors.js';
import type { FairLimiter } from '../queue/fair-limiter.js';
import { WorkQueue } from '../queue/work-queue.js';
import { NO_EVENTS, type EventRecorder } from '../events/types.js';
import type { DiscoveredReconciler } from '../reconcile/reconciler.explorer.js';
import type { CacheReader, ReconcileContext, ReconcileResult } from '../reconcile/types.js';
import { deadline, onAbort, sleep } from '../util/abort.js';
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

/** What a reconciler without a primary kind reads as its cache. */
const EMPTY: CacheReader = { get: () => undefined, list: () => [] };

function readerOf(informer: Informer | undefined): CacheReader {
  if (!informer) return EMPTY;
  const store = informer.store;
  return { get: (ns, name) => store.getByName(ns, name), list: (ns) => store.list(ns) };
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
            this.logger.error(`mapping ${watch.kind} ${objectKey(event.object)} failed: ${describeFailure(err)}`);
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
    this.abort.abort(new Error(`controller ${this.name} on ${this.deps.cluster} stopped`));
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
    const { namespace, name } = splitKey(key);
    const timeoutMs = this.reconciler.options.timeoutMs ?? 60_000;
    const attempt = deadline(timeoutMs, stopSignal);
    // The reconcile ends at the deadline even if its code ignores the signal.
    let off = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      off = onAbort(attempt.signal, () =>
        reject(
          attempt.expired
            ? new ReconcileTimeoutError(`reconcile of ${key} exceeded ${timeoutMs} ms`)
            : new Error('reconcile aborted'),
        ),
      );
    });
    aborted.catch(() => undefined);
    const context: ReconcileContext = {
      signal: attempt.signal,
      client: this.deps.client.withSignal(attempt.signal),
      cache: this.cache,
      attempt: this.queue.failures(key),
      cacheOf: (apiVersion, kind) => this.cacheOf(apiVersion, kind),
      recorder: this.deps.recorder ?? NO_EVENTS,
    };
    const started = performance.now();
    try {
      const result: ReconcileResult = await Promise.race([
        Promise.resolve().then(() =>
          this.reconciler.instance.reconcile({ cluster: this.deps.cluster, namespace, name }, context),
        ),
        aborted,
      ]);
      this.succeeded(key, result, (performance.now() - started) / 1000);
    } catch (err) {
      if (stopSignal.aborted) return; // stopping: the queue is gone, nothing to retry
      const timedOut = err instanceof ReconcileTimeoutError;
      const delay = this.queue.addRateLimited(key);
      this.deps.metrics.reconciled(
        this.name,
        this.deps.cluster,
        timedOut ? 'timeout' : 'error',
        (performance.now() - started) / 1000,
      );
      const message = timedOut ? (err as Error).message : describeFailure(err);
      this.recordFailure(key, timedOut ? 'Timeout' : reasonOf(err), message);
      this.logger.warn(`${key}: ${message}; retry in ${Math.round(delay)} ms`);
    } finally {
      off();
      attempt.clear();
    }
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
