import { onAbort } from '../util/abort.js';
import { exponentialBackoff } from '../util/backoff.js';

export interface WorkQueueMetrics {
  /** A key entered the queue (de-duplicated adds are not counted). */
  added?(): void;
  /** The number of ready keys changed. */
  depth?(n: number): void;
  /** Seconds from add() to the get() that handed the key out. */
  latency?(seconds: number): void;
  /** addRateLimited() scheduled a retry. */
  retry?(): void;
}

export interface WorkQueueOptions {
  /** Rate-limited retry delays; default { baseMs: 10, maxMs: 300_000 }. */
  backoff?: { baseMs: number; maxMs: number };
  metrics?: WorkQueueMetrics;
}

interface DelayedEntry<K> {
  key: K;
  due: number;
  /** Insertion order, so that keys due at the same instant come out FIFO. */
  seq: number;
  /** Position in the heap, kept current so that an earlier addAfter can move the entry up. */
  index: number;
}

interface Waiter<K> {
  resolve(key: K | undefined): void;
  /** Removes the abort listener once the waiter is served. */
  off?: () => void;
}

/** setTimeout clamps longer delays to 1 ms; longer waits re-arm when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Timers may fire a little before performance.now() reaches the due time (libuv caches its
 * clock): entries this close are treated as due rather than re-arming for a sliver. */
const DUE_SLACK_MS = 1;
/** Consumed slots at the front of the ready array are dropped in bulk past this many. */
const COMPACT_AFTER = 1024;

/**
 * A work queue with client-go semantics: a key is queued at most once however often it is added,
 * and a key being processed is never handed to a second worker; added again meanwhile, it is
 * queued once done(key) is called. Delayed and rate-limited adds wait in a min-heap of due times
 * under a single unref'd timer, so thousands of keys in backoff cost O(log n) per operation and
 * never keep the process alive.
 */
export class WorkQueue<K extends string = string> {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly metrics?: WorkQueueMetrics;
  private readonly trackLatency: boolean;

  // Ready keys, FIFO: ready[head..] are live. shift() is O(n), so the head moves instead.
  private ready: K[] = [];
  private head = 0;
  /** Keys that need processing: ready ones, and processing ones added again meanwhile. */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  /** add() time per dirty key, only kept when a latency metric is wanted. */
  private readonly addedAt = new Map<K, number>();
  private readonly failureCounts = new Map<K, number>();

  private readonly delayed = new Map<K, DelayedEntry<K>>();
  private readonly heap: DelayedEntry<K>[] = [];
  private seq = 0;
  private timer?: NodeJS.Timeout;
  /** The due time the timer is armed for; Infinity when no timer is armed. */
  private timerDue = Infinity;

  /** Blocked get() calls; a Set keeps FIFO order and removes an aborted waiter in O(1). */
  private readonly waiters = new Set<Waiter<K>>();
  private shut = false;

  constructor(options: WorkQueueOptions = {}) {
    const { baseMs, maxMs } = options.backoff ?? { baseMs: 10, maxMs: 300_000 };
    if (!(baseMs >= 0) || !(maxMs >= baseMs)) {
      throw new RangeError(`WorkQueue backoff needs 0 <= baseMs <= maxMs, got baseMs=${baseMs} maxMs=${maxMs}`);
    }
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.metrics = options.metrics;
    this.trackLatency = options.metrics?.latency !== undefined;
  }

  add(key: K): void {
    if (this.shut || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics?.added?.();
    if (this.trackLatency) this.addedAt.set(key, performance.now());
    // A processing key is queued by done(): two workers must never hold the same key.
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /** Adds the key after delayMs. A key already waiting keeps whichever due time is earlier. */
  addAfter(key: K, delayMs: number): void {
    if (this.shut) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const due = performance.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing) {
      if (due >= existing.due) return;
      existing.due = due;
      existing.seq = this.seq++;
      this.siftUp(existing.index);
    } else {
      const entry: DelayedEntry<K> = { key, due, seq: this.seq++, index: this.heap.length };
      this.delayed.set(key, entry);
      this.heap.push(entry);
      this.siftUp(entry.index);
    }
    if (due < this.timerDue) this.arm();
  }

  /** Counts a failure of the key and re-adds it after the matching exponential backoff, or after
   * `atLeastMs` when that is longer (a server's Retry-After); returns that delay (0 once shut
   * down, when nothing is scheduled). */
  addRateLimited(key: K, atLeastMs = 0): number {
    if (this.shut) return 0;
    const failures = (this.failureCounts.get(key) ?? 0) + 1;
    this.failureCounts.set(key, failures);
    this.metrics?.retry?.();
    const delay = Math.max(exponentialBackoff(failures, this.baseMs, this.maxMs), atLeastMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure count, after a success. A pending delayed add stays. */
  forget(key: K): void {
    this.failureCounts.delete(key);
  }

  failures(key: K): number {
    return this.failureCounts.get(key) ?? 0;
  }

  /** The next ready key, FIFO, waiting for one if none is ready. The key is processing until
   * done(key). Resolves undefined once shut down or when the signal aborts. */
  get(signal?: AbortSignal): Promise<K | undefined> {
    if (this.shut || signal?.aborted) return Promise.resolve(undefined);
    // Waiters exist only while nothing is ready (enqueue serves them first), so FIFO holds.
    if (this.head < this.ready.length) {
      const key = this.ready[this.head++]!;
      this.compact();
      this.metrics?.depth?.(this.length);
      this.startProcessing(key);
      return Promise.resolve(key);
    }
    return new Promise<K | undefined>((resolve) => {
      const waiter: Waiter<K> = { resolve };
      if (signal) {
        waiter.off = onAbort(signal, () => {
          if (this.waiters.delete(waiter)) resolve(undefined);
        });
      }
      this.waiters.add(waiter);
    });
  }

  /** Ends processing of a key handed out by get(); re-queues it if it was added meanwhile. */
  done(key: K): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key)) this.enqueue(key);
  }

  /** Keys ready to be handed out. */
  get length(): number {
    return this.ready.length - this.head;
  }

  get delayedCount(): number {
    return this.delayed.size;
  }

  get processingCount(): number {
    return this.processing.size;
  }

  /** Drops ready and delayed work and failure counts, clears the timer and resolves every waiting
   * get() with undefined; later adds are ignored. Keys being processed still take done(). */
  shutDown(): void {
    if (this.shut) return;
    this.shut = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    this.ready = [];
    this.head = 0;
    this.dirty.clear();
    this.addedAt.clear();
    this.failureCounts.clear();
    this.delayed.clear();
    this.heap.length = 0;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) {
      waiter.off?.();
      waiter.resolve(undefined);
    }
    this.metrics?.depth?.(0);
  }

  get isShutDown(): boolean {
    return this.shut;
  }

  /** Hands the key to the longest-waiting get(), or appends it to the ready keys. */
  private enqueue(key: K): void {
    const waiter = this.waiters.values().next().value;
    if (waiter) {
      this.waiters.delete(waiter);
      waiter.off?.();
      this.startProcessing(key);
      waiter.resolve(key);
      return;
    }
    this.ready.push(key);
    this.metrics?.depth?.(this.length);
  }

  private startProcessing(key: K): void {
    this.dirty.delete(key);
    this.processing.add(key);
    if (this.trackLatency) {
      const at = this.addedAt.get(key);
      this.addedAt.delete(key);
      if (at !== undefined) this.metrics?.latency?.((performance.now() - at) / 1000);
    }
  }

  private compact(): void {
    if (this.head === this.ready.length) {
      this.ready.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.ready.length) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
  }

  /** (Re)arms the one timer for the earliest due time. */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    const top = this.heap[0];
    if (!top) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(top.due - performance.now())));
    this.timerDue = top.due;
    this.timer = setTimeout(() => this.fire(), delay);
    // Delayed work alone must not keep a process alive that has nothing else to do.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    const now = performance.now() + DUE_SLACK_MS;
    for (let top = this.heap[0]; top && top.due <= now && !this.shut; top = this.heap[0]) {
      this.popHeap();
      this.delayed.delete(top.key);
      this.add(top.key);
    }
    if (!this.shut) this.arm();
  }

  private less(a: DelayedEntry<K>, b: DelayedEntry<K>): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private place(entry: DelayedEntry<K>, index: number): void {
    this.heap[index] = entry;
    entry.index = index;
  }

  private siftUp(index: number): void {
    const entry = this.heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.heap[parentIndex]!;
      if (!this.less(entry, parent)) break;
      this.place(parent, index);
      index = parentIndex;
    }
    this.place(entry, index);
  }

  private popHeap(): void {
    const last = this.heap.pop()!;
    const size = this.heap.length;
    if (size === 0) return;
    // Sift the former last entry down from the root.
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && this.less(this.heap[right]!, this.heap[left]!)) child = right;
      const smaller = this.heap[child]!;
      if (!this.less(smaller, last)) break;
      this.place(smaller, index);
      index = child;
    }
    this.place(last, index);
  }
}
