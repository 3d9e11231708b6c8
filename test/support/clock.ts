import { jest } from '@jest/globals';
import { settle } from '../../src/testing/fake-transport.js';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** Fakes Date, performance.now() and the timer functions from T0. nextTick, setImmediate and
 * microtasks stay real: Node streams and settle() need them. */
export function useFakeClock(now = T0): void {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'], now });
}

/** Moves the fake clock by `ms`, one due timer at a time, letting what each timer starts run
 * before the next one fires: a retry loop whose next timer is set several event-loop turns after
 * the previous one fired still sees exact times. (A plain advanceTimersByTime would have moved
 * the clock to the end before the loop sets its next timer.) */
export async function advance(ms: number): Promise<void> {
  const target = Date.now() + ms;
  // A timer at the target, so that stepping to the next timer never goes past it.
  const sentinel = setTimeout(() => undefined, ms);
  while (Date.now() < target) {
    jest.advanceTimersToNextTimer();
    await settle();
  }
  clearTimeout(sentinel);
  // Other timers due at the target too.
  jest.advanceTimersByTime(0);
  await settle();
}

/** Milliseconds on the fake clock since `since`. */
export const elapsed = (since = T0): number => Date.now() - since;
