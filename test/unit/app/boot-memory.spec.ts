import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { releaseBootMemory } from '../../../src/app/boot-memory.js';
import { advance, useFakeClock } from '../../support/clock.js';

const MiB = 2 ** 20;

/** The messages logged, in order. */
class CapturedLogs {
  readonly lines: string[] = [];
  readonly logger = {
    log: (message: string) => void this.lines.push(message),
    error: (message: string) => void this.lines.push(message),
    warn: (message: string) => void this.lines.push(message),
  };
}

/** A process that is ready `readyAt` ms from now (its check throws before, if `throwsBefore`),
 * whose RSS and heap drop from 110 / 54 to 93 / 24 MiB once collected. */
function fakeProcess(readyAt: number | 'never', throwsBefore = false) {
  let collections = 0;
  let collected = false;
  const started = Date.now();
  return {
    collections: () => collections,
    options: {
      ready: () => {
        if (readyAt === 'never' || Date.now() - started < readyAt) {
          if (throwsBefore) throw new Error('not yet');
          return false;
        }
        return true;
      },
      collect: () => {
        collections++;
        collected = true;
      },
      rss: () => (collected ? 93 : 110) * MiB,
      heap: () => (collected ? 24 : 54) * MiB,
    },
  };
}

describe('releaseBootMemory', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => {
    jest.useRealTimers();
  });

  it('collects once, at the first poll that finds the app ready, and logs what it returned', async () => {
    const logs = new CapturedLogs();
    const proc = fakeProcess(2_500);
    releaseBootMemory({ ...proc.options, logger: logs.logger, intervalMs: 1_000 });
    await advance(2_000);
    expect(proc.collections()).toBe(0);
    await advance(1_000);
    expect(proc.collections()).toBe(1);
    await advance(60_000);
    expect(proc.collections()).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
    expect(logs.lines).toHaveLength(1);
    expect(logs.lines[0]).toMatch(
      /^ready: released the boot's memory with one full GC of \d+ ms: RSS 110\.0 → 93\.0 MiB, V8 heap committed 54\.0 → 24\.0 MiB$/,
    );
  });

  it('counts a readiness check that throws as not ready', async () => {
    const logs = new CapturedLogs();
    const proc = fakeProcess(5_000, true);
    releaseBootMemory({ ...proc.options, logger: logs.logger, intervalMs: 1_000 });
    await advance(4_000);
    expect(proc.collections()).toBe(0);
    await advance(1_000);
    expect(proc.collections()).toBe(1);
  });

  it('gives up without collecting when the app is never ready within the timeout', async () => {
    const logs = new CapturedLogs();
    const proc = fakeProcess('never');
    releaseBootMemory({ ...proc.options, logger: logs.logger, intervalMs: 1_000, timeoutMs: 10_000 });
    await advance(9_000);
    expect(jest.getTimerCount()).toBe(1);
    await advance(2_000);
    expect(jest.getTimerCount()).toBe(0);
    expect(proc.collections()).toBe(0);
    expect(logs.lines).toHaveLength(0);
  });

  it('stops polling when cancelled', async () => {
    const logs = new CapturedLogs();
    const proc = fakeProcess(3_000);
    const cancel = releaseBootMemory({ ...proc.options, logger: logs.logger, intervalMs: 1_000 });
    await advance(1_000);
    cancel();
    await advance(10_000);
    expect(proc.collections()).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('runs V8 full collection by default: it shrinks the committed heap of this process', () => {
    // Garbage enough that the young generation grows past its smallest size.
    const garbage = (): number => {
      let n = 0;
      for (let i = 0; i < 200; i++) n += Array.from({ length: 10_000 }, (_, j) => ({ i, j, s: `x${j}` })).length;
      return n;
    };
    expect(garbage()).toBe(2_000_000);
    const logs = new CapturedLogs();
    releaseBootMemory({ ready: () => true, logger: logs.logger, intervalMs: 10 });
    jest.advanceTimersByTime(10);
    const m = /V8 heap committed ([\d.]+) → ([\d.]+) MiB/.exec(logs.lines[0]!);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeLessThan(Number(m![1]));
  });
});
