import { Logger } from '@nestjs/common';
import type { Informer } from '../cache/informer.js';
import { objectKey, splitKey, type InformerEvent, type KubeObject } from '../cache/types.js';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure } from '../client/errors.js';
import type { EngineMetrics } from '../metrics/engine-metrics.js';
import type { FairLimiter } from '../queue/fair-limiter.js';
import { WorkQueue } from '../queue/work-queue.js';
import type { DiscoveredReconciler } from '../reconcile/reconciler.explorer.js';
import type { CacheReader, ReconcileContext, ReconcileResult } from '../reconcile/types.js';

export class ReconcileTimeoutError extends Error {
  override readonly name = 'ReconcileTimeoutError';
}

export interface ControllerDeps {
  cluster: string;
  client: ClusterClient;
  informer: Informer;
  /** Informers of the reconciler's `watches`, in the same order. */
  secondary: Informer[];
  limiter: FairLimiter;
  metrics: EngineMetrics;
}

/**
 * One reconciler bound to one cluster: informer events become keys in a work queue, and
 * `concurrency` workers take keys, wait for a slot of the process-wide fair limiter, and call
 * reconcile with a deadline. Failures and timeouts are retried with per-key backoff; nothing a
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
  private resyncTimer?: NodeJS.Timeout;

  constructor(
    private readonly reconciler: DiscoveredReconciler,
    private readonly deps: ControllerDeps,
  ) {
    this.name = reconciler.options.name;
    this.queue = new WorkQueue({
      backoff: reconciler.options.backoff ?? { baseMs: 10, maxMs: 300_000 },
      metrics: deps.metrics.queue(this.name, deps.cluster),
    });
    const store = deps.informer.store;
    this.cache = { get: (ns, name) => store.getByName(ns, name), list: (ns) => store.list(ns) };
    this.logger = new Logger(`Reconciler ${this.name}@${deps.cluster}`);
  }

  start(): void {
    const predicate = this.reconciler.options.predicate;
    this.unsubscribes.push(
      this.deps.informer.on((event: InformerEvent) => {
        if (predicate && !predicate(event)) return;
        this.queue.add(objectKey(event.object));
      }),
    );
    (this.reconciler.options.watches ?? []).forEach((watch, i) => {
      const enqueue = (obj: KubeObject): void => {
        for (const ref of watch.map(obj, this.cache))
          this.queue.add(ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name);
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
    for (const key of this.deps.informer.store.keys()) this.queue.add(key);
    const resyncMs = this.reconciler.options.resyncMs;
    if (resyncMs) {
      this.resyncTimer = setInterval(() => {
        for (const key of this.deps.informer.store.keys()) this.queue.add(key);
      }, resyncMs);
      this.resyncTimer.unref();
    }
    const concurrency = Math.max(1, this.reconciler.options.concurrency ?? 1);
    for (let i = 0; i < concurrency; i++) this.workers.push(this.work());
  }

  /** Ready keys, delayed keys and keys being processed. */
  queueDepth(): { ready: number; delayed: number; processing: number } {
    return { ready: this.queue.length, delayed: this.queue.delayedCount, processing: this.queue.processingCount };
  }

  /** Drops queued work, aborts reconciles in flight and waits for the workers, at most `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    clearInterval(this.resyncTimer);
    this.abort.abort(new Error(`controller ${this.name} on ${this.deps.cluster} stopped`));
    this.queue.shutDown();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.workers),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async work(): Promise<void> {
    const signal = this.abort.signal;
    for (;;) {
      const key = await this.queue.get(signal);
      if (key === undefined) return;
      let release: (() => void) | undefined;
      try {
        release = await this.deps.limiter.acquire(this.deps.cluster, signal);
        await this.process(key, signal);
      } catch {
        // Only acquire() throws here, when the controller stops while waiting for a slot.
      } finally {
        release?.();
        this.queue.done(key);
      }
    }
  }

  private async process(key: string, stopSignal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const timeoutMs = this.reconciler.options.timeoutMs ?? 60_000;
    const attempt = new AbortController();
    const onStop = (): void => attempt.abort(stopSignal.reason);
    stopSignal.addEventListener('abort', onStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new ReconcileTimeoutError(`reconcile of ${key} exceeded ${timeoutMs} ms`);
        attempt.abort(err);
        reject(err);
      }, timeoutMs);
      attempt.signal.addEventListener(
        'abort',
        () => reject(attempt.signal.reason instanceof Error ? attempt.signal.reason : new Error('reconcile aborted')),
        { once: true },
      );
    });
    deadline.catch(() => undefined);
    const context: ReconcileContext = {
      signal: attempt.signal,
      client: this.deps.client,
      cache: this.cache,
      attempt: this.queue.failures(key),
      cacheOf: (apiVersion, kind) => this.cacheOf(apiVersion, kind),
    };
    const started = performance.now();
    try {
      const result: ReconcileResult = await Promise.race([
        Promise.resolve().then(() =>
          this.reconciler.instance.reconcile({ cluster: this.deps.cluster, namespace, name }, context),
        ),
        deadline,
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
      this.logger.warn(
        `${key}: ${timedOut ? (err as Error).message : describeFailure(err)}; retry in ${Math.round(delay)} ms`,
      );
    } finally {
      clearTimeout(timer);
      stopSignal.removeEventListener('abort', onStop);
    }
  }

  private cacheOf(apiVersion: string, kind: string): CacheReader | undefined {
    const informer = [this.deps.informer, ...this.deps.secondary].find(
      (i) => i.spec.apiVersion === apiVersion && i.spec.kind === kind,
    );
    if (!informer) return undefined;
    const store = informer.store;
    return { get: (ns, name) => store.getByName(ns, name), list: (ns) => store.list(ns) };
  }

  private succeeded(key: string, result: ReconcileResult, seconds: number): void {
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
}
