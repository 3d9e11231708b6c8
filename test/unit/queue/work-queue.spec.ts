import { getEventListeners } from 'node:events';
import { WorkQueue } from '../../../src/queue/work-queue.js';
import { jest } from '@jest/globals';
import { advance, elapsed, useFakeClock } from '../../support/clock.js';
import { isSettled } from '../../support/promises.js';
import { timerTracker } from '../../support/timers.js';

describe('WorkQueue', () => {
  let q: WorkQueue;
  beforeEach(() => {
    q = new WorkQueue({ backoff: { baseMs: 5, maxMs: 40 } });
  });
  afterEach(() => q.shutDown());

  it('de-duplicates a key that is already waiting', async () => {
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
    expect(q.processingCount).toBe(2);
  });

  it('hands out ready keys in FIFO order', async () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `ns/k${i}`);
    for (const k of keys) q.add(k);
    const got: string[] = [];
    for (let i = 0; i < keys.length; i++) got.push((await q.get())!);
    expect(got).toEqual(keys);
  });

  it('re-queues a key added while processing only after done()', async () => {
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0);
    const second = q.get();
    expect(await isSettled(second)).toBe(false);
    q.done('a');
    expect(await second).toBe('a');
    expect(q.processingCount).toBe(1);
    q.done('a');
    expect(q.processingCount).toBe(0);
    expect(q.length).toBe(0);
  });

  it('does not re-queue a processed key that was not added again', async () => {
    q.add('a');
    await q.get();
    q.done('a');
    q.done('a');
    expect(q.length).toBe(0);
    expect(q.processingCount).toBe(0);
  });

  it('makes get() wait for a key and wakes waiters in FIFO order', async () => {
    const first = q.get();
    const second = q.get();
    expect(await isSettled(first)).toBe(false);
    q.add('x');
    q.add('y');
    expect(await first).toBe('x');
    expect(await second).toBe('y');
    expect(q.length).toBe(0);
  });

  it('resolves get() with undefined when its signal aborts, without losing later keys', async () => {
    const ac = new AbortController();
    const waiting = q.get(ac.signal);
    expect(await isSettled(waiting)).toBe(false);
    ac.abort();
    expect(await waiting).toBeUndefined();
    q.add('a');
    expect(q.length).toBe(1);
    expect(await q.get(AbortSignal.abort())).toBeUndefined();
    expect(await q.get()).toBe('a');
  });

  it('treats addAfter with a delay <= 0 as add', () => {
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    expect(q.length).toBe(2);
    expect(q.delayedCount).toBe(0);
  });

  describe('on a fake clock', () => {
    beforeEach(() => useFakeClock());
    afterEach(() => jest.useRealTimers());

    it('lets the earlier due time win when a delayed key is added again', async () => {
      q.addAfter('a', 10_000);
      q.addAfter('a', 20);
      expect(q.delayedCount).toBe(1);
      expect(q.length).toBe(0);
      const a = q.get();
      await advance(19);
      expect(await isSettled(a)).toBe(false);
      await advance(1);
      expect(await a).toBe('a');
      expect(q.delayedCount).toBe(0);

      q.addAfter('b', 20);
      q.addAfter('b', 10_000);
      expect(q.delayedCount).toBe(1);
      const b = q.get();
      await advance(20);
      expect(await b).toBe('b');
      // The later request was folded into the earlier one, not kept as a second entry.
      expect(q.delayedCount).toBe(0);
    });

    it('moves a key ahead of others when its due time is brought forward', async () => {
      q.addAfter('a', 10_000);
      q.addAfter('b', 3_000);
      q.addAfter('c', 8_000);
      q.addAfter('a', 20);
      const first = q.get();
      await advance(20);
      expect(await first).toBe('a');
      expect(elapsed()).toBe(20);
      expect(q.delayedCount).toBe(2);
    });
  });

  it('releases delayed keys in due-time order', async () => {
    q.addAfter('late', 90);
    q.addAfter('early', 15);
    q.addAfter('middle', 50);
    const got = [await q.get(), await q.get(), await q.get()];
    expect(got).toEqual(['early', 'middle', 'late']);
  }, 5_000);

  it('releases every delayed key once, never before its time, and leaves no timer', async () => {
    const timers = timerTracker();
    try {
      const scheduled = new Map<string, { at: number; delay: number }>();
      timers.record(() => {
        for (let i = 0; i < 300; i++) {
          const key = `k${i}`;
          const delay = 1 + ((i * 37) % 40);
          scheduled.set(key, { at: performance.now(), delay });
          q.addAfter(key, delay);
        }
      });
      expect(q.delayedCount).toBe(300);
      const seen = new Set<string>();
      while (seen.size < 300) {
        const key = (await q.get())!;
        const early = scheduled.get(key)!.at + scheduled.get(key)!.delay - performance.now();
        // Timers fire on a millisecond clock: allow the queue's 1 ms slack plus rounding.
        expect(early).toBeLessThan(2);
        expect(seen.has(key)).toBe(false);
        seen.add(key);
        q.done(key);
      }
      expect(q.delayedCount).toBe(0);
      expect(q.length).toBe(0);
      expect(await timers.settleTo(0)).toBe(0);
    } finally {
      timers.stop();
    }
  }, 5_000);

  it('grows rate-limited delays exponentially up to the cap, and forget() starts over', () => {
    const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited('a'));
    expect(delays).toEqual([5, 10, 20, 40, 40]);
    expect(q.failures('a')).toBe(5);
    expect(q.failures('b')).toBe(0);
    expect(q.delayedCount).toBe(1);
    q.forget('a');
    expect(q.failures('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(5);
  });

  it('delivers a rate-limited key after its backoff', async () => {
    q.add('a');
    await q.get();
    const started = performance.now();
    const delay = q.addRateLimited('a');
    q.done('a');
    expect(await q.get()).toBe('a');
    expect(performance.now() - started).toBeGreaterThanOrEqual(delay - 2);
  }, 5_000);

  it('keeps one timer, unref-ed, for thousands of keys in backoff', async () => {
    const timers = timerTracker();
    try {
      timers.record(() => {
        // Scrambled due times, so the earliest changes now and then and the timer is re-armed.
        for (let i = 0; i < 20_000; i++) q.addAfter(`k${i}`, 10_000 + ((i * 7919) % 20_000));
      });
      expect(q.delayedCount).toBe(20_000);
      // Re-armed only when the earliest due time moves, not once per key.
      expect(timers.created).toBeLessThan(50);
      expect(await timers.settleTo(1)).toBe(1);
      // The one live timer does not keep the process alive.
      expect(timers.refed).toBe(0);
    } finally {
      timers.stop();
    }
  });

  it('shutDown drops work, clears its timer, wakes getters and ignores later adds', async () => {
    // Backoff long enough that no timer can fire (and so vanish) during the test.
    const sq = new WorkQueue({ backoff: { baseMs: 5_000, maxMs: 60_000 } });
    const timers = timerTracker();
    try {
      sq.add('busy');
      expect(await sq.get()).toBe('busy');
      sq.add('ready');
      timers.record(() => {
        sq.addAfter('delayed', 10_000);
        sq.addRateLimited('failing');
      });
      // The earlier retry re-armed the timer: one live timer, not one per key.
      expect(await timers.settleTo(1)).toBe(1);
      expect(timers.refed).toBe(0);
      const waiting = [sq.get(), sq.get()];
      // 'ready' went to the first waiter; the second one waits.
      expect(await waiting[0]).toBe('ready');
      expect(await isSettled(waiting[1]!)).toBe(false);

      sq.shutDown();
      expect(sq.isShutDown).toBe(true);
      expect(await waiting[1]).toBeUndefined();
      expect(sq.length).toBe(0);
      expect(sq.delayedCount).toBe(0);
      expect(sq.failures('failing')).toBe(0);
      expect(await timers.settleTo(0, 5_000)).toBe(0);

      sq.add('late');
      sq.addAfter('late', 10);
      expect(sq.addRateLimited('late')).toBe(0);
      expect(sq.length).toBe(0);
      expect(sq.delayedCount).toBe(0);
      expect(await sq.get()).toBeUndefined();
      // Keys in flight at shutdown still finish normally.
      expect(sq.processingCount).toBe(2);
      sq.done('busy');
      sq.done('ready');
      expect(sq.processingCount).toBe(0);
      sq.shutDown();
    } finally {
      timers.stop();
      sq.shutDown();
    }
  });

  it('removes its abort listener once a waiting get() is served', async () => {
    const ac = new AbortController();
    const waiting = q.get(ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    q.add('a');
    expect(await waiting).toBe('a');
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    const other = new AbortController();
    const pending = q.get(other.signal);
    q.shutDown();
    expect(await pending).toBeUndefined();
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });

  it('keeps no per-key state for keys that were processed and forgotten', async () => {
    // With a latency metric, so that add times are kept per key too.
    q.shutDown();
    q = new WorkQueue({ backoff: { baseMs: 1, maxMs: 2 }, metrics: { latency: () => undefined } });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5_000; i++) q.add(`k${i}`);
      for (let i = 0; i < 5_000; i++) {
        const key = (await q.get())!;
        // Every tenth key fails once and comes back through the delayed heap.
        if (i % 10 === 0 && q.failures(key) === 0) q.addRateLimited(key);
        else q.forget(key);
        q.done(key);
      }
      while (q.delayedCount > 0 || q.length > 0) {
        const key = (await q.get())!;
        q.forget(key);
        q.done(key);
      }
    }
    // White-box: the collections behind the queue, which must not grow with history.
    const inner = q as unknown as Record<string, { length?: number; size?: number }>;
    for (const name of ['ready', 'dirty', 'processing', 'addedAt', 'failureCounts', 'delayed', 'heap', 'waiters']) {
      expect([name, inner[name]!.length ?? inner[name]!.size]).toEqual([name, 0]);
    }
  }, 5_000);

  it('trims consumed slots of its ready list while keys keep flowing', async () => {
    const inner = q as unknown as { ready: unknown[] };
    q.add('seed');
    for (let i = 0; i < 20_000; i++) {
      q.add(`k${i}`);
      q.done((await q.get())!);
    }
    expect(q.length).toBe(1);
    expect(inner.ready.length).toBeLessThan(3_000);
  });

  it('reports metrics: de-duplicated adds, depth, add-to-get latency and retries', async () => {
    const depth: number[] = [];
    const latency: number[] = [];
    let added = 0;
    let retries = 0;
    const m = new WorkQueue({
      metrics: {
        added: () => added++,
        depth: (n) => depth.push(n),
        latency: (s) => latency.push(s),
        retry: () => retries++,
      },
    });
    try {
      m.add('a');
      m.add('a');
      m.add('b');
      expect(added).toBe(2);
      expect(depth).toEqual([1, 2]);
      await m.get();
      await m.get();
      expect(depth).toEqual([1, 2, 1, 0]);
      expect(latency).toHaveLength(2);
      expect(latency.every((s) => s >= 0 && s < 5)).toBe(true);
      m.addRateLimited('a');
      expect(retries).toBe(1);
    } finally {
      m.shutDown();
    }
  });

  it('rejects an inverted backoff', () => {
    expect(() => new WorkQueue({ backoff: { baseMs: 10, maxMs: 1 } })).toThrow(RangeError);
  });
});
