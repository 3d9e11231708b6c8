import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import type { KubeObject } from '../cache/types.js';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, KubeApiError, retryAfterMs } from '../client/errors.js';
import { sleep } from '../util/abort.js';
import { boundedName } from '../util/names.js';
import {
  EVENT_DROP_REASONS,
  type EventDropReason,
  type EventMetrics,
  type EventOptions,
  type EventRecorder,
  type EventRecorderStats,
  type EventType,
  type ObjectReference,
} from './types.js';

export interface ClusterEventRecorderOptions {
  /** The cluster's name, for logs. */
  cluster: string;
  /** The client of the cluster the objects live in: events go there. */
  client: ClusterClient;
  /** events.k8s.io `reportingController` of this recorder (views of forController() have theirs).
   * Default "clusterregistry". */
  reportingController?: string;
  /** events.k8s.io `reportingInstance`: this replica (default the host name, a pod's name). */
  reportingInstance?: string;
  metrics?: EventMetrics;
  /** Events waiting to be written, at most (default 1000, as client-go); more are dropped. */
  queueSize?: number;
  /** An identical event within this long of the last one adds to its series (default 10 min). */
  aggregationWindowMs?: number;
  /** Writes per object: a token bucket (default burst 25, one more every 5 minutes, as
   * client-go's spam filter). */
  rateLimit?: { burst: number; refillMs: number };
  /** Tries of a write that failed for a reason worth retrying (default 3, 1 s apart, doubling). */
  retry?: { attempts: number; delayMs: number };
  /** Series and rate limits remembered, at most (least recently used go first; default 4096). */
  maxTracked?: number;
  /** Deadline of one write (default 10 s). */
  requestTimeoutMs?: number;
}

const API = '/apis/events.k8s.io/v1';
/** A system call: read once for all clusters' recorders. */
let host: string | undefined;
const LIMITS = { reason: 128, action: 128, note: 1024, instance: 128 };

/** One aggregated event: what is written, how often it was seen, what the API has. */
interface Series {
  key: string;
  objectKey: string;
  namespace: string;
  body: Record<string, unknown>;
  regardingName: string;
  count: number;
  firstObserved: number;
  lastObserved: number;
  /** Name of the Event in the API once created. */
  name?: string;
  /** The count the API has. */
  written: number;
  queued: boolean;
  deferred: boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** What every view of one cluster's recorder shares. */
class Core {
  readonly logger: Logger;
  readonly series = new Map<string, Series>();
  readonly buckets = new Map<string, Bucket>();
  readonly queue: Series[] = [];
  readonly deferred = new Set<Series>();
  readonly abort = new AbortController();
  readonly stats: EventRecorderStats = {
    recorded: 0,
    created: 0,
    patched: 0,
    dropped: Object.fromEntries(EVENT_DROP_REASONS.map((r) => [r, 0])) as Record<EventDropReason, number>,
    queued: 0,
  };
  readonly instance: string;
  readonly queueSize: number;
  readonly windowMs: number;
  readonly burst: number;
  readonly refillMs: number;
  readonly attempts: number;
  readonly retryDelayMs: number;
  readonly maxTracked: number;
  readonly timeoutMs: number;
  closed = false;
  private draining?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private timerAt?: number;
  private lastSweep = Date.now();
  private sequence = 0;
  private readonly warned = new Set<string>();

  constructor(readonly options: ClusterEventRecorderOptions) {
    this.logger = new Logger(`Events@${options.cluster}`);
    this.instance = truncate(options.reportingInstance ?? (host ??= hostname()), LIMITS.instance) || 'clusterregistry';
    this.queueSize = options.queueSize ?? 1000;
    this.windowMs = options.aggregationWindowMs ?? 10 * 60_000;
    this.burst = options.rateLimit?.burst ?? 25;
    this.refillMs = options.rateLimit?.refillMs ?? 5 * 60_000;
    this.attempts = Math.max(1, options.retry?.attempts ?? 3);
    this.retryDelayMs = options.retry?.delayMs ?? 1_000;
    this.maxTracked = options.maxTracked ?? 4096;
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  record(
    controller: string,
    defaults: Partial<ObjectReference>,
    regarding: KubeObject | ObjectReference,
    type: EventType,
    reason: string,
    note: string,
    options: EventOptions = {},
  ): void {
    if (this.closed) return;
    try {
      const ref = referenceOf(regarding, defaults);
      if (!ref) return;
      const related = options.related ? referenceOf(options.related, {}) : undefined;
      const cleanReason = truncate(reason, LIMITS.reason) || 'Unknown';
      const action = truncate(options.action ?? cleanReason, LIMITS.action) || cleanReason;
      const cleanNote = truncate(note, LIMITS.note);
      const eventType: EventType = type === 'Warning' ? 'Warning' : 'Normal';
      this.stats.recorded++;
      this.options.metrics?.recorded?.(eventType);
      const objectKey = [ref.apiVersion, ref.kind, ref.namespace ?? '', ref.name, ref.uid ?? ''].join('/');
      const key = JSON.stringify([objectKey, related ?? null, eventType, cleanReason, action, cleanNote, controller]);
      const now = Date.now();
      this.sweep(now);
      const existing = this.series.get(key);
      if (existing && now - existing.lastObserved <= this.windowMs) {
        existing.count++;
        existing.lastObserved = now;
        this.touch(this.series, key, existing);
        this.schedule(existing);
        return;
      }
      if (this.queue.length >= this.queueSize) {
        this.drop('QueueFull');
        return;
      }
      const series: Series = {
        key,
        objectKey,
        namespace: ref.namespace || 'default',
        regardingName: ref.name,
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          reportingController: controller,
          reportingInstance: this.instance,
          action,
          reason: cleanReason,
          type: eventType,
          note: cleanNote,
          regarding: ref,
          ...(related ? { related } : {}),
        },
        count: 1,
        firstObserved: now,
        lastObserved: now,
        written: 0,
        queued: false,
        deferred: false,
      };
      this.touch(this.series, key, series);
      this.schedule(series);
    } catch (err) {
      // Recording must never break the caller.
      this.logger.error(`recording an event failed: ${describeFailure(err)}`);
    }
  }

  /** Queues a series that has something to write, and starts the writer. */
  private schedule(series: Series): void {
    if (series.queued || series.deferred) return;
    if (this.queue.length >= this.queueSize) {
      // Already in the API: its count is written with the next occurrence or the next retry.
      if (series.name) this.defer(series, Date.now() + 1_000);
      return;
    }
    series.queued = true;
    this.queue.push(series);
    this.stats.queued = this.queue.length;
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    // Yield first, so record() returns at once and bursts are written as one.
    await Promise.resolve();
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      const series = this.queue.shift()!;
      series.queued = false;
      this.stats.queued = this.queue.length;
      await this.write(series);
    }
  }

  private async write(series: Series): Promise<void> {
    if (series.count === series.written) return;
    const now = Date.now();
    const wait = this.take(series.objectKey, now);
    if (wait > 0) {
      if (series.name) this.defer(series, now + wait);
      else this.forget(series, 'RateLimited');
      return;
    }
    const count = series.count;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.send(series, count);
        series.written = count;
        if (series.count !== count) this.schedule(series);
        return;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        const retryable = isRetryable(err);
        if (!retryable || attempt >= this.attempts) {
          const reason: EventDropReason = retryable ? 'Failed' : 'Rejected';
          this.warnOnce(reason, err);
          // A new event is forgotten (a later one tries again); a series keeps its count.
          if (series.name) this.drop(reason);
          else this.forget(series, reason);
          return;
        }
        try {
          await sleep(Math.max(retryAfterMs(err), this.retryDelayMs * 2 ** (attempt - 1)), this.abort.signal);
        } catch {
          return;
        }
      }
    }
  }

  /** Creates the Event, or adds to its series; an Event gone from the API (its TTL) is created again. */
  private async send(series: Series, count: number): Promise<void> {
    const signal = this.abort.signal;
    const client = this.options.client;
    const collection = `${API}/namespaces/${encodeURIComponent(series.namespace)}/events`;
    const seriesField = count > 1 ? { series: { count, lastObservedTime: microTime(series.lastObserved) } } : undefined;
    if (series.name) {
      try {
        await client.request('PATCH', `${collection}/${encodeURIComponent(series.name)}`, {
          body: seriesField,
          contentType: 'application/merge-patch+json',
          signal,
          timeoutMs: this.timeoutMs,
        });
        this.stats.patched++;
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        series.name = undefined;
      }
    }
    const name = this.eventName(series.regardingName);
    await client.request('POST', collection, {
      body: {
        ...series.body,
        metadata: { name, namespace: series.namespace },
        eventTime: microTime(series.firstObserved),
        ...seriesField,
      },
      signal,
      timeoutMs: this.timeoutMs,
    });
    series.name = name;
    this.stats.created++;
  }

  /** client-go's name: the object's name and the time in hex, unique per recorder. */
  private eventName(regarding: string): string {
    const stamp = (BigInt(Date.now()) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)).toString(16);
    const base = regarding
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '');
    return `${boundedName(base || 'object', 253 - stamp.length - 1).replace(/[-.]+$/, '') || 'object'}.${stamp}`;
  }

  /** Takes a token of the object's bucket; returns 0, or how long until one is there. */
  private take(objectKey: string, now: number): number {
    let bucket = this.buckets.get(objectKey);
    if (!bucket) bucket = { tokens: this.burst, at: now };
    const refilled = Math.floor((now - bucket.at) / this.refillMs);
    if (refilled > 0) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + refilled);
      bucket.at = bucket.tokens === this.burst ? now : bucket.at + refilled * this.refillMs;
    }
    this.touch(this.buckets, objectKey, bucket);
    if (bucket.tokens >= 1) {
      if (bucket.tokens === this.burst) bucket.at = now;
      bucket.tokens--;
      return 0;
    }
    return Math.max(1, bucket.at + this.refillMs - now);
  }

  /** A series in the API whose count could not be written yet: tried again at `at`. */
  private defer(series: Series, at: number): void {
    series.deferred = true;
    this.deferred.add(series);
    this.arm(at);
  }

  private arm(at: number): void {
    if (this.closed) return;
    if (this.timer && this.timerAt !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.retryDeferred(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }
  private retryDeferred(): void {
    this.timer = undefined;
    this.timerAt = undefined;
    const due = [...this.deferred];
    this.deferred.clear();
    for (const series of due) {
      series.deferred = false;
      this.schedule(series);
    }
  }

  private forget(series: Series, reason: EventDropReason): void {
    if (this.series.get(series.key) === series) this.series.delete(series.key);
    this.drop(reason);
  }

  drop(reason: EventDropReason, n = 1): void {
    this.stats.dropped[reason] += n;
    for (let i = 0; i < n; i++) this.options.metrics?.dropped?.(reason);
  }

  /** Series out of their window and full buckets are forgotten; both maps stay bounded. */
  private sweep(now: number): void {
    if (now - this.lastSweep >= 60_000) {
      this.lastSweep = now;
      for (const [key, s] of this.series) {
        if (now - s.lastObserved > this.windowMs && !s.queued && !s.deferred) this.series.delete(key);
      }
      for (const [key, b] of this.buckets) {
        if (b.tokens + Math.floor((now - b.at) / this.refillMs) >= this.burst) this.buckets.delete(key);
      }
    }
    for (const map of [this.series, this.buckets] as Map<string, unknown>[]) {
      while (map.size >= this.maxTracked) {
        const oldest = map.keys().next().value as string;
        const value = map.get(oldest) as Series | Bucket;
        if ('queued' in value && (value.queued || value.deferred)) break;
        map.delete(oldest);
      }
    }
  }

  /** Moves an entry to the end of its map (most recently used). */
  private touch<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
  }

  private warnOnce(reason: EventDropReason, err: unknown): void {
    const status = err instanceof KubeApiError ? String(err.status) : 'network';
    const key = `${reason}:${status}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    const hint =
      err instanceof KubeApiError && err.status === 403
        ? ' (the app needs create and patch on events.k8s.io events in the namespace of the object, or "default" for cluster-scoped objects)'
        : '';
    this.logger.warn(
      `an event was dropped (${reason}): ${describeFailure(err)}${hint}; further drops are counted only`,
    );
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Series counts not written yet because of the rate limit stay as the API has them.
    this.deferred.clear();
    if (this.draining) {
      const grace = new AbortController();
      await Promise.race([this.draining, sleep(timeoutMs, grace.signal).catch(() => undefined)]);
      grace.abort();
    }
    this.abort.abort(new Error(`cluster ${this.options.cluster}: event recorder closed`));
    const left = this.queue.length;
    this.queue.length = 0;
    this.stats.queued = 0;
    if (left > 0) this.drop('Shutdown', left);
    await this.draining?.catch(() => undefined);
  }

  /** Resolves when nothing is queued or being written (tests). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining.catch(() => undefined);
  }
}

/**
 * The event recorder of one cluster: events about objects of that cluster are written to it
 * (events.k8s.io/v1) by one asynchronous writer, from a bounded queue. record() only updates
 * memory. Identical events (same object, related object, type, reason, action, note and
 * reporting controller) within the aggregation window are one Event: the first creates it, the
 * next ones raise `series.count` and `series.lastObservedTime` with a PATCH (several occurrences
 * between two writes cost one PATCH). Each object has a token bucket of writes (burst 25, one
 * more every 5 minutes): a new event past it is dropped, a series waits for the next token. A
 * write that fails for a passing reason (no answer, 5xx, 429) is tried 3 times; a refusal (403,
 * 422) is not. Every drop is counted by reason. close() writes what is queued within its grace,
 * then drops the rest.
 */
export class ClusterEventRecorder implements EventRecorder {
  private readonly core: Core;
  private readonly controller: string;
  private readonly defaults: Partial<ObjectReference>;

  constructor(options: ClusterEventRecorderOptions);
  /** @internal a view of `core` */
  constructor(options: ClusterEventRecorderOptions, core: Core, controller: string, defaults: Partial<ObjectReference>);
  constructor(
    options: ClusterEventRecorderOptions,
    core?: Core,
    controller?: string,
    defaults: Partial<ObjectReference> = {},
  ) {
    this.core = core ?? new Core(options);
    this.controller = reportingController(controller ?? options.reportingController ?? 'clusterregistry');
    this.defaults = defaults;
  }

  get cluster(): string {
    return this.core.options.cluster;
  }

  get reportingController(): string {
    return this.controller;
  }

  event(
    regarding: KubeObject | ObjectReference,
    type: EventType,
    reason: string,
    note: string,
    options?: EventOptions,
  ): void {
    this.core.record(this.controller, this.defaults, regarding, type, reason, note, options);
  }

  normal(regarding: KubeObject | ObjectReference, reason: string, note: string, options?: EventOptions): void {
    this.event(regarding, 'Normal', reason, note, options);
  }

  warning(regarding: KubeObject | ObjectReference, reason: string, note: string, options?: EventOptions): void {
    this.event(regarding, 'Warning', reason, note, options);
  }

  forController(controller: string): ClusterEventRecorder {
    return new ClusterEventRecorder(this.core.options, this.core, controller, this.defaults);
  }

  /** A view for a controller whose objects may lack apiVersion and kind (list items do). */
  forReconciler(controller: string, kind: { apiVersion?: string; kind?: string }): ClusterEventRecorder {
    return new ClusterEventRecorder(this.core.options, this.core, controller, kind);
  }

  stats(): EventRecorderStats {
    const s = this.core.stats;
    return { ...s, dropped: { ...s.dropped } };
  }

  /** Writes what is queued within `timeoutMs`, then drops the rest (counted as Shutdown);
   * events recorded afterwards are ignored. */
  close(timeoutMs = 2_000): Promise<void> {
    return this.core.close(timeoutMs);
  }

  /** Resolves once nothing is queued or being written (series waiting for the rate limit aside). */
  idle(): Promise<void> {
    return this.core.idle();
  }
}

const LOCAL = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** events.k8s.io wants `reportingController` to be a qualified name ("example.com/name" or
 * "name", the name at most 63 characters of [A-Za-z0-9_.-]): one that is not is cleaned up. */
export function reportingController(name: string): string {
  const slash = name.lastIndexOf('/');
  const prefix = slash < 0 ? '' : name.slice(0, slash);
  const local = slash < 0 ? name : name.slice(slash + 1);
  const prefixOk = prefix === '' || (prefix.length <= 253 && PREFIX.test(prefix));
  if (prefixOk && LOCAL.test(local)) return name;
  const cleaned =
    local
      .replace(/[^A-Za-z0-9_.-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 63)
      .replace(/[^A-Za-z0-9]+$/, '') || 'controller';
  return prefixOk && prefix ? `${prefix}/${cleaned}` : cleaned;
}

function referenceOf(
  object: KubeObject | ObjectReference,
  defaults: Partial<ObjectReference>,
): ObjectReference | undefined {
  const meta = (object as KubeObject).metadata;
  const ref: ObjectReference = meta
    ? {
        apiVersion: object.apiVersion ?? defaults.apiVersion,
        kind: object.kind ?? defaults.kind,
        name: meta.name ?? '',
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      }
    : { ...defaults, ...(object as ObjectReference) };
  if (!ref.name) return undefined;
  // Only the fields of an ObjectReference, without empty ones.
  const out: ObjectReference = { name: ref.name };
  for (const field of ['apiVersion', 'kind', 'namespace', 'uid', 'resourceVersion', 'fieldPath'] as const) {
    const value = ref[field];
    if (typeof value === 'string' && value !== '') out[field] = value;
  }
  return out;
}

/** At most `max` bytes of UTF-8 (the apiserver counts bytes), cut on a character. */
export function truncate(text: string, max: number): string {
  const clean = String(text ?? '');
  if (Buffer.byteLength(clean) <= max) return clean;
  let cut = clean.slice(0, max);
  while (Buffer.byteLength(cut) > max - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (the apiserver wants six). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function isRetryable(err: unknown): boolean {
  if (err instanceof KubeApiError) return err.status === 408 || err.status === 429 || err.status >= 500;
  return true; // no answer: network, timeout
}
