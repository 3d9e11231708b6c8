import type { ClusterClient } from '../client/cluster-client.js';
import { ResponseTooLargeError } from '../client/body.js';
import {
  describeFailure,
  failureReason,
  KubeApiError,
  retryAfterMs,
  statusError,
  type FailureReason,
} from '../client/errors.js';
import { servedAsProtobuf } from '../client/protobuf/schema.js';
import { collectionPath, guessResource, type ResourceInfo } from '../client/resources.js';
import { MalformedWatchEventError } from '../client/watch-decoder.js';
import { deadline, Latch, sleep } from '../util/abort.js';
import { Backoff, exponentialBackoff, withJitter } from '../util/backoff.js';
import { ObjectStore, shareManagedFields, stripManagedFields } from './store.js';
import { objectKey, type InformerEvent, type KubeObject, type WatchSpec } from './types.js';

export interface InformerMetrics {
  /** A watch ended and is being re-established; reason is a FailureReason or 'Timeout'/'Closed'. */
  watchRestart?(reason: string): void;
  relist?(): void;
  event?(type: InformerEvent['type']): void;
}

export interface InformerOptions {
  /** Objects per list page (default 500). */
  pageSize?: number;
  /** Server-side watch timeout, picked at random in [min, max) seconds (default 300–600, as client-go). */
  watchTimeoutSeconds?: [number, number];
  /** Client-side deadline for silence on an open watch (default 150 s; bookmarks come about every minute). */
  inactivityMs?: number;
  /** How long past its own timeoutSeconds a watch may stay open before it is cut here (default
   * 60 s): a server that never ends one, with a keep-alive now and then, must not hold it (or a
   * WatchList initial state that never ends) for ever. */
  watchGraceMs?: number;
  /** Reconnect backoff (default 500 ms doubling to 30 s, ±50 % jitter). */
  backoff?: { baseMs: number; maxMs: number };
  /** Applied to every object before it is cached (default: shareManagedFields, which keeps them). */
  transform?: (obj: KubeObject) => KubeObject;
  /** Most objects one list (all its pages) or one WatchList initial state may hold, and the
   * cache after it (default 1,000,000, far above Kubernetes' tested 150,000 pods per cluster):
   * each page and event is bounded in bytes, but a server may send `continue`, or new objects on
   * a watch, forever. More fails as ResponseTooLarge. */
  maxListObjects?: number;
  /** Sync from the WatchList initial stream (one request, objects decoded one by one) where the
   * apiserver offers it, as client-go does by default since 1.35; else list then watch
   * (default true). */
  watchList?: boolean;
  /** Watch built-in kinds in protobuf, as client-go's typed clients do: the apiserver encodes it
   * in about half the time of JSON. Objects keep the JSON shape (a table generated from the Go
   * types says how); a stream the table cannot read exactly (a field newer than it) is read as
   * JSON from then on. Custom resources are JSON either way (default true). */
  protobuf?: boolean;
  metrics?: InformerMetrics;
}

export interface InformerState {
  /** The first full list has been stored. */
  synced: boolean;
  /** A watch stream is open right now. */
  watching: boolean;
  /** The last failure, cleared by the next successful list or watch. */
  error?: { reason: FailureReason; message: string; since: Date };
  relists: number;
  watchRestarts: number;
  resourceVersion?: string;
}

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown;
}

class Gone extends Error {}

/** A watch open this long went well, whatever it sent (a quiet kind sends nothing for days). */
const LASTED_MS = 10_000;
/** Failures that a watch which worked may meet in passing: retried once before they are reported. */
const RESTART_REASONS: ReadonlySet<string> = new Set(['Unreachable', 'Timeout', 'ServerError']);

/** A WatchList initial state the server never ended: a Timeout (its reason) of the kind's sync. */
class InitialStateTimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** A list (all its pages) or a WatchList initial state with more objects than maxListObjects.
 * Of the too-large family: its reason is ResponseTooLarge. No byte limit applies (NaN). */
export class ListTooLargeError extends ResponseTooLargeError {
  override readonly name: string = 'ListTooLargeError';

  constructor(
    what: string,
    readonly limitObjects: number,
    where = 'in one list',
  ) {
    super(what, NaN, `${what}: more than ${limitObjects} objects ${where}`);
  }
}

/** From this many 410s in a row with no event between them, the informer reports a failure. */
export const GONE_IN_A_ROW_FAILURE = 5;

/** The shortest wait after a response or watch event over its size limit. Not a blip that the
 * next attempt may not see: each attempt reads up to the limit (32 MiB) before it fails, so a
 * server sending endless bodies would otherwise draw that every half second. */
export const TOO_LARGE_RETRY_FLOOR_MS = 5_000;

/**
 * List-then-watch for one kind in one cluster, with the guarantees controller-runtime users rely
 * on: bookmarks, jittered server timeouts, an inactivity deadline, relist with a delete-emitting
 * diff on 410 Gone (backing off, and reporting it, when 410s follow each other with no event
 * between them), and jittered, capped reconnects on every other failure. It never stops by
 * itself and never throws: failures go to state(), and onState() listeners hear of every change
 * of `synced` and `error`, until the signal passed to start() aborts.
 */
export class Informer<T extends KubeObject = KubeObject> {
  readonly store = new ObjectStore<T>();
  private readonly handlers = new Set<(event: InformerEvent<T>) => void>();
  private readonly stateListeners = new Set<() => void>();
  private readonly synced = new Latch();
  private readonly opts: Required<Omit<InformerOptions, 'metrics'>> & { metrics: InformerMetrics };
  private current: InformerState = { synced: false, watching: false, relists: 0, watchRestarts: 0 };
  /** The version the cache holds every change up to, while a watch may still resume from it: unset
   * once the server called it gone (410), or when the cache must be built anew. */
  private resumeFrom?: string;
  /** The last watch broke after it had worked (events came, or it lasted): see run(). */
  private brokeWorking = false;
  private resource?: ResourceInfo;
  private running?: Promise<void>;
  /** Whether the apiserver serves the WatchList initial stream: undefined until it has said. */
  private watchListServed?: boolean;
  /** 410s with no event between them; see afterGone(). */
  private gonesInARow = 0;
  /** Whether watches ask for protobuf: a built-in kind, until a stream could not be read. */
  private protobuf: boolean;

  constructor(
    private readonly client: ClusterClient,
    readonly spec: WatchSpec,
    options: InformerOptions = {},
  ) {
    this.opts = {
      pageSize: options.pageSize ?? 500,
      watchList: options.watchList ?? true,
      protobuf: options.protobuf ?? true,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? [300, 600],
      inactivityMs: options.inactivityMs ?? 150_000,
      watchGraceMs: options.watchGraceMs ?? 60_000,
      backoff: options.backoff ?? { baseMs: 500, maxMs: 30_000 },
      transform: options.transform ?? shareManagedFields,
      maxListObjects: options.maxListObjects ?? 1_000_000,
      metrics: options.metrics ?? {},
    };
    this.protobuf = this.opts.protobuf && servedAsProtobuf(spec.apiVersion, spec.kind);
  }

  /** Subscribes to events; returns the unsubscribe function. Handlers must not throw (errors are swallowed). */
  on(handler: (event: InformerEvent<T>) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Subscribes to changes of state() (synced, error); returns the unsubscribe function. */
  onState(listener: () => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  state(): InformerState {
    return { ...this.current };
  }

  /** The resource being watched, once known (guessed from the kind or discovered). */
  get resourceInfo(): ResourceInfo | undefined {
    return this.resource;
  }

  /** Starts the list/watch loop; it runs until `signal` aborts. Calling it again is a no-op. */
  start(signal: AbortSignal): Promise<void> {
    this.running ??= this.run(signal).finally(() => {
      this.current.watching = false;
    });
    return this.running;
  }

  /** Resolves once synced; rejects when the signal aborts first. */
  waitForSync(signal: AbortSignal): Promise<void> {
    return this.synced.wait(signal);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ ...this.opts.backoff, jitter: 0.5 });
    let resourceVersion: string | undefined;
    // No discovery before the first list: the kind's plural is guessed, and only a 404 asks.
    this.resource = guessResource(this.spec.apiVersion, this.spec.kind);
    while (!signal.aborted) {
      try {
        // The initial state comes from the WatchList stream where it is served (one request that
        // then keeps watching), else from a paginated list followed by a watch.
        const streamed = resourceVersion === undefined && this.opts.watchList && this.watchListServed !== false;
        if (resourceVersion === undefined && !streamed) {
          resourceVersion = await this.relist(signal);
          backoff.reset();
        }
        const outcome = await this.watch(streamed ? undefined : resourceVersion, signal);
        // The server ignored WatchList (no end bookmark): a decision, not a failure; list at once.
        if (streamed && this.watchListServed === false) continue;
        resourceVersion = outcome.resourceVersion;
        if (outcome.healthy) backoff.reset();
        this.restarted(outcome.gone ? 'Gone' : outcome.healthy ? 'Timeout' : 'Closed');
        if (outcome.gone) {
          resourceVersion = this.resumeFrom = undefined;
          await this.afterGone(signal);
        }
        // A watch that closes at once without events is not healthy: do not spin on it.
        if (!outcome.healthy && !outcome.gone) await sleep(backoff.next(), signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof Gone) {
          resourceVersion = this.resumeFrom = undefined;
          this.restarted('Gone');
          await this.afterGone(signal);
          continue;
        }
        // An apiserver without WatchList refuses its parameters (400 or 422): list from now on.
        if (
          resourceVersion === undefined &&
          this.watchListServed === undefined &&
          err instanceof KubeApiError &&
          (err.status === 400 || err.status === 422)
        ) {
          this.watchListServed = false;
          continue;
        }
        let failure = err;
        if (err instanceof KubeApiError && err.status === 404) {
          // A guessed plural the cluster does not serve: ask discovery (which names a missing
          // kind as KindNotServed). A discovered one that 404s went away (CRD deleted): ask again.
          const guessed = this.resource?.guessed === true;
          try {
            this.resource = await this.client.resources.resolve(this.spec.apiVersion, this.spec.kind);
            if (guessed) continue;
          } catch (discoveryError) {
            if (signal.aborted) break;
            failure = discoveryError;
          }
        }
        // Past the object bound on a watch: resuming would replay up to the same object and fail
        // again (the deletes that would make room come after it). Start from a list.
        // A kind that was not found may have been deleted and made again: it is listed anew too.
        if (failure instanceof ListTooLargeError || (err instanceof KubeApiError && err.status === 404)) {
          resourceVersion = this.resumeFrom = undefined;
        } else if (this.resumeFrom !== undefined) {
          // Any other break (a reset connection, an ERROR event, a stream gone quiet) goes on from
          // the last change the cache applied, as client-go's reflector does: from the list's
          // version again it would replay changes the cache has seen (a deleted object would come
          // back), and a WatchList would send the whole state again.
          resourceVersion = this.resumeFrom;
        }
        // A stream that worked and then broke (a load balancer's idle reset, an apiserver rolling) is a
        // restart, as client-go's reflector takes it: a failure of the kind only if the next try
        // fails too, so one reset does not make a whole cluster degraded.
        const working = this.brokeWorking;
        this.brokeWorking = false;
        if (!(working && RESTART_REASONS.has(failureReason(failure)))) this.fail(failure);
        this.restarted(failureReason(failure));
        const floor = failureReason(failure) === 'ResponseTooLarge' ? TOO_LARGE_RETRY_FLOOR_MS : 0;
        await sleep(Math.max(retryAfterMs(failure), floor, backoff.next()), signal);
      }
    }
  }

  /** Lists every page, swaps the cache and emits the difference (deletes included). */
  private async relist(signal: AbortSignal): Promise<string> {
    const resource = this.resource!;
    const path = collectionPath(resource, this.spec.namespace);
    const items = new Map<string, T>();
    let listed = 0;
    let continueToken: string | undefined;
    let resourceVersion = '';
    let restarted = false;
    for (;;) {
      let page: ListPage;
      try {
        page = await this.client.request<ListPage>('GET', path, {
          query: {
            limit: this.opts.pageSize,
            continue: continueToken,
            labelSelector: this.spec.labelSelector,
            fieldSelector: this.spec.fieldSelector,
          },
          signal,
        });
      } catch (err) {
        // An expired continue token: start the list over, once. A server that expires the
        // token again fails this list, which then waits for the backoff like any failure.
        if (continueToken && !restarted && err instanceof KubeApiError && err.status === 410) {
          items.clear();
          listed = 0;
          continueToken = undefined;
          restarted = true;
          continue;
        }
        throw err;
      }
      for (const item of Array.isArray(page?.items) ? (page.items as unknown[]) : []) {
        // Whatever else a hostile server sends, an entry without a name cannot be cached.
        if (!isNamedObject(item)) continue;
        // Lists omit apiVersion/kind on items; handlers and caches want them.
        item.apiVersion ??= resource.apiVersion;
        item.kind ??= resource.kind;
        const cached = this.opts.transform(item) as T;
        items.set(objectKey(cached), cached);
        // Counted as sent, not as kept: a server repeating one object forever is a list without end.
        if (++listed > this.opts.maxListObjects) throw this.tooManyObjects('list');
      }
      resourceVersion = stringOr(page?.metadata?.resourceVersion, resourceVersion);
      continueToken = stringOr(page?.metadata?.continue, '') || undefined;
      if (!continueToken) break;
    }
    this.applyList(items, resourceVersion);
    return resourceVersion;
  }

  /** The cache holds every change up to `version`. */
  private applied(version: string): void {
    this.current.resourceVersion = version;
    this.resumeFrom = version;
  }

  /** A complete state (a list, or the WatchList initial events): swaps the cache in and emits
   * the difference, deletes of what vanished included. */
  private applyList(items: Map<string, T>, resourceVersion: string): void {
    const resource = this.resource!;
    if (resource.namespaced === undefined && items.size > 0) {
      resource.namespaced = items.values().next().value!.metadata?.namespace !== undefined;
    }
    const previous = this.store.replace(items);
    this.current.relists++;
    this.applied(resourceVersion);
    this.opts.metrics.relist?.();
    for (const [key, obj] of items) {
      const old = previous.get(key);
      if (!old) this.emit({ type: 'add', object: obj });
      else {
        previous.delete(key);
        if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
          this.emit({ type: 'update', object: obj, old });
      }
    }
    // What vanished while we were not watching is reported as deleted.
    for (const gone of previous.values()) this.emit({ type: 'delete', object: gone });
    const first = !this.current.synced;
    this.current.synced = true;
    if (first) this.synced.open();
    this.ok(first);
  }

  /**
   * One watch. Without a resourceVersion it is a WatchList stream: the current state comes first
   * as ADDED events, closed by a bookmark annotated k8s.io/initial-events-end; that state is
   * applied as a list would be, and the stream goes on as a plain watch. Returns where to resume
   * (undefined: the initial state did not complete, start over).
   */
  private async watch(
    from: string | undefined,
    signal: AbortSignal,
  ): Promise<{ resourceVersion: string | undefined; healthy: boolean; gone: boolean }> {
    const [min, max] = this.opts.watchTimeoutSeconds;
    const timeoutSeconds = Math.floor(min + Math.random() * (max - min));
    let resourceVersion = from ?? '';
    /** The initial state being received, until its end bookmark. */
    let initial: Map<string, T> | undefined = from === undefined ? new Map() : undefined;
    let events = 0;
    const opened = Date.now();
    const protobuf = this.protobuf;
    const cutoff = deadline(timeoutSeconds * 1000 + this.opts.watchGraceMs, signal);
    let open = false;
    this.brokeWorking = false;
    try {
      const stream = await this.client.watch(
        collectionPath(this.resource!, this.spec.namespace),
        {
          watch: 1,
          allowWatchBookmarks: true,
          ...(initial ? { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan' } : { resourceVersion: from }),
          timeoutSeconds,
          labelSelector: this.spec.labelSelector,
          fieldSelector: this.spec.fieldSelector,
        },
        cutoff.signal,
        this.opts.inactivityMs,
        // What the decoder can do for the two transforms of ours: skip managedFields unread, or
        // share their field sets (a transform of the user's gets trees of its own).
        {
          protobuf,
          dropManagedFields: this.opts.transform === stripManagedFields,
          shareFieldSets: this.opts.transform === shareManagedFields,
        },
      );
      this.current.watching = true;
      open = true;
      if (!initial) this.ok(false);
      // A batch is every event that arrived since the last one: a burst costs one await.
      try {
        for (let batch = await stream.nextBatch(); batch; batch = await stream.nextBatch()) {
          for (const event of batch) {
            events++;
            // A change the cache did not have ends a series of 410s: not a bookmark, nor the
            // initial state (a server that answers every fresh list or stream with one of these,
            // then 410, would otherwise be relisted from at once, for ever).
            if (!initial && event.type !== 'ERROR' && event.type !== 'BOOKMARK') this.progressed();
            const obj = event.object as unknown as T;
            switch (event.type) {
              case 'ADDED':
              case 'MODIFIED': {
                if (!isNamedObject(obj)) break;
                resourceVersion = stringOr(obj.metadata?.resourceVersion, resourceVersion);
                const item = this.opts.transform(obj) as T;
                if (initial) {
                  // Lists omit nothing here, but keep the apiVersion/kind a cache reader expects.
                  item.apiVersion ??= this.resource!.apiVersion;
                  item.kind ??= this.resource!.kind;
                  initial.set(objectKey(item), item);
                  // Events, not objects kept: one object sent again and again has no end either.
                  if (events > this.opts.maxListObjects) throw this.tooManyObjects('watch');
                  break;
                }
                // A watch adds without end as surely as a list pages without end.
                if (this.store.size >= this.opts.maxListObjects && !this.store.get(objectKey(item))) {
                  throw this.tooManyObjects('watch', 'cached');
                }
                this.applied(resourceVersion);
                const old = this.store.set(item);
                this.emit(old ? { type: 'update', object: item, old } : { type: 'add', object: item });
                break;
              }
              case 'DELETED': {
                if (!isNamedObject(obj)) break;
                resourceVersion = stringOr(obj.metadata?.resourceVersion, resourceVersion);
                if (initial) {
                  initial.delete(objectKey(obj));
                  break;
                }
                this.applied(resourceVersion);
                const old = this.store.delete(obj);
                this.emit({ type: 'delete', object: old ?? (this.opts.transform(obj) as T) });
                break;
              }
              case 'BOOKMARK':
                resourceVersion = stringOr(obj?.metadata?.resourceVersion, resourceVersion);
                if (initial && obj?.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true') {
                  this.watchListServed = true;
                  this.applyList(initial, resourceVersion);
                  initial = undefined;
                } else if (initial && this.watchListServed === undefined) {
                  // A server serving WatchList sends no other bookmark before the end one: this one
                  // ignores it (a plain watch from now). List now rather than wait for its timeout.
                  this.watchListServed = false;
                  return { resourceVersion: undefined, healthy: false, gone: false };
                } else if (!initial) {
                  this.applied(resourceVersion);
                }
                break;
              case 'ERROR': {
                const status = (event.object ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
                if (status.code === 410) {
                  // After a watch that lasted, a 410 is news (a compaction, a restarted apiserver),
                  // not the next of a series: a quiet kind sees no change for days.
                  if (Date.now() - opened > LASTED_MS) this.progressed();
                  return { resourceVersion, healthy: true, gone: true };
                }
                events--; // not a sign that the stream worked (see brokeWorking)
                throw statusError(status, 'watch');
              }
            }
          }
        }
      } finally {
        stream.close();
      }
      // Cut here rather than ended by the server (however the stream took the abort).
      if (cutoff.expired) throw cutoff.signal.reason;
      if (initial) {
        // Ended before its initial state was complete. An apiserver that ignores WatchList sends
        // no end bookmark at all: list from now on.
        if (this.watchListServed === undefined) this.watchListServed = false;
        return { resourceVersion: undefined, healthy: false, gone: false };
      }
      // A quiet kind may see no event before the server's timeout; a watch that lasted is healthy
      // too, and ends a series of 410s as a change does.
      const lasted = Date.now() - opened > LASTED_MS;
      if (lasted) this.progressed();
      return { resourceVersion, healthy: events > 0 || lasted, gone: false };
    } catch (err) {
      if (cutoff.expired && !signal.aborted) {
        // The server kept it open past its own timeout. A cache that was complete goes on from
        // where it got to; an initial state that never ended is this kind's failure to sync.
        if (!initial) return { resourceVersion, healthy: true, gone: false };
        throw new InitialStateTimeoutError(
          `watch ${collectionPath(this.resource!, this.spec.namespace)}: its initial state did not end within ${timeoutSeconds} s and its grace`,
        );
      }
      if (err instanceof KubeApiError && err.status === 410) throw new Gone();
      this.brokeWorking = open && (events > 0 || Date.now() - opened > LASTED_MS);
      // What the protobuf table cannot read exactly is read as JSON from now on.
      if (protobuf && err instanceof MalformedWatchEventError) this.protobuf = false;
      throw err;
    } finally {
      cutoff.clear();
      this.current.watching = false;
    }
  }

  private tooManyObjects(verb: 'list' | 'watch', where?: string): ListTooLargeError {
    return new ListTooLargeError(
      `${verb} ${collectionPath(this.resource!, this.spec.namespace)}`,
      this.opts.maxListObjects,
      where,
    );
  }

  private emit(event: InformerEvent<T>): void {
    this.opts.metrics.event?.(event.type);
    for (const handler of this.handlers) {
      try {
        handler(event);
      } catch {
        /* a handler's bug must not stop the watch; handlers report their own errors */
      }
    }
  }

  /**
   * After a 410 Gone (resourceVersion unset: the next step lists). The first relists at once, as
   * an etcd compaction calls for. A 410 again with no event in between (a server, or a lagging
   * watch cache behind a load balancer, that cannot serve a watch from its own fresh list) backs
   * off exponentially, as client-go's reflector does, and from GONE_IN_A_ROW_FAILURE on it is
   * reported: the cache is not being kept up to date. An event on a watch ends the series.
   */
  private async afterGone(signal: AbortSignal): Promise<void> {
    const inARow = ++this.gonesInARow;
    if (inARow < 2) return;
    if (inARow >= GONE_IN_A_ROW_FAILURE) {
      this.fail(
        new KubeApiError(
          410,
          'Expired',
          `watches keep ending in 410 Gone with no event between them (${GONE_IN_A_ROW_FAILURE} or more in a row)`,
        ),
      );
    }
    const { baseMs, maxMs } = this.opts.backoff;
    await sleep(withJitter(exponentialBackoff(inARow - 1, baseMs, maxMs), 0.5), signal);
  }

  /** A watch delivered an event: a series of 410s is over, and so is its failure. */
  private progressed(): void {
    if (this.gonesInARow === 0) return;
    const stuck = this.gonesInARow >= GONE_IN_A_ROW_FAILURE;
    this.gonesInARow = 0;
    if (stuck) this.ok(false);
  }

  /** A list or watch went through: the failure (if any) is over, unless it is a series of 410s
   * (each of which follows a list that went through). */
  private ok(changed: boolean): void {
    if (this.current.error && this.gonesInARow < GONE_IN_A_ROW_FAILURE) {
      this.current.error = undefined;
      changed = true;
    }
    if (changed) this.notify();
  }

  private fail(err: unknown): void {
    const reason = failureReason(err);
    const message = describeFailure(err);
    if (this.current.error?.message === message) return;
    this.current.error = { reason, message, since: new Date() };
    this.notify();
  }

  private notify(): void {
    for (const listener of this.stateListeners) {
      try {
        listener();
      } catch {
        /* listeners report their own errors */
      }
    }
  }

  private restarted(reason: string): void {
    this.current.watchRestarts++;
    this.opts.metrics.watchRestart?.(reason);
  }
}

function isNamedObject(value: unknown): value is KubeObject & { metadata: { name: string } } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const metadata = (value as KubeObject).metadata;
  return typeof metadata === 'object' && metadata !== null && typeof metadata.name === 'string' && metadata.name !== '';
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
