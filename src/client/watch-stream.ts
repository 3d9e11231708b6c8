import { finished, type Readable } from 'node:stream';
import { asBuffer, destroyBody } from './body.js';
import type { WatchEvent } from './watch-decoder.js';

/**
 * Splits a watch body into events as its bytes arrive, synchronously: a JSON line reader or the
 * protobuf frame reader. Both bound each event and throw on bytes that are not one.
 */
export interface WatchFramer {
  /** Appends to `out` every event this chunk completes. */
  push(chunk: Buffer, out: WatchEvent[]): void;
  /** The body ended: appends a last event if one is pending, throws if it ended inside one. */
  end(out: WatchEvent[]): void;
}

/**
 * Decoded events held for a consumer that is busy before the body is paused: the pause reaches
 * the socket through the body's own buffer, so a slow consumer holds about this much plus one
 * chunk and one unfinished event (which the framer bounds).
 */
const PAUSE_AT_BYTES = 512 * 1024;

/**
 * The events of a watch body. Chunks are decoded the moment the body hands them over (flowing
 * mode, no async iterator per chunk), and the consumer takes what has arrived since it last asked
 * as one batch: a thousand events in a burst cost one await, not several per event through
 * nested generators (a cache of 1,000 pods synced in 81.5 ms instead of 90.6, side by side).
 *
 * Order is kept and nothing is skipped: events decoded before a failure are handed over first,
 * then the failure is thrown. Any failure, and a consumer that stops early, destroy the body.
 */
export class WatchEventStream implements AsyncIterable<WatchEvent> {
  private queue: WatchEvent[] = [];
  private queuedBytes = 0;
  private failure: Error | undefined;
  private done = false;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly body: Readable,
    private readonly framer: WatchFramer,
    private readonly what: string,
  ) {
    finished(body, (err) => {
      if (this.closed || this.failure) return;
      if (err) this.fail(err);
      else {
        try {
          this.framer.end(this.queue);
          this.done = true;
        } catch (e) {
          this.fail(e as Error);
        }
      }
      this.notify();
    });
    body.on('data', (raw: unknown) => this.onData(raw));
  }

  private onData(raw: unknown): void {
    if (this.closed || this.failure) return;
    const chunk = asBuffer(raw);
    try {
      if (!chunk) throw new TypeError(`${this.what}: watch body must yield bytes, not strings`);
      this.framer.push(chunk, this.queue);
    } catch (err) {
      this.fail(err as Error);
    }
    this.queuedBytes += chunk?.byteLength ?? 0;
    // Only with events waiting: their consumer resumes the body when it takes them. An unfinished
    // event alone is the framer's to bound.
    if (this.queue.length > 0 && this.queuedBytes >= PAUSE_AT_BYTES && !this.failure) this.body.pause();
    if (this.queue.length > 0 || this.failure) this.notify();
  }

  /** The body's error is ours: destroying it with the error makes undici reset the stream. */
  private fail(err: Error): void {
    this.failure = err;
    destroyBody(this.body, err);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Every event decoded since the last call (at least one), or undefined once the body ended. */
  async nextBatch(): Promise<WatchEvent[] | undefined> {
    for (;;) {
      if (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        this.queuedBytes = 0;
        if (this.body.isPaused() && !this.closed) this.body.resume();
        return batch;
      }
      if (this.failure) throw this.failure;
      if (this.done || this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Stops reading: the body is destroyed, so the server's stream or socket is released. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    if (!this.done) destroyBody(this.body);
    this.notify();
  }

  /** One event at a time, for a consumer that wants them so; leaving the loop closes the stream. */
  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    let batch: WatchEvent[] = [];
    let i = 0;
    const end = (): Promise<IteratorResult<WatchEvent>> => {
      this.close();
      return Promise.resolve({ value: undefined, done: true });
    };
    return {
      next: async () => {
        while (i >= batch.length) {
          let next: WatchEvent[] | undefined;
          try {
            next = await this.nextBatch();
          } catch (err) {
            this.close();
            throw err;
          }
          if (!next) return end();
          batch = next;
          i = 0;
        }
        return { value: batch[i++]!, done: false };
      },
      return: end,
    };
  }
}
