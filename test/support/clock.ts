import { jest } from '@jest/globals';
import { settle } from './fake-transport.js';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** Fakes Date, performance.now() and the timer functions from T0. nextTick, setImmediate and
 * microtasks stay real: Node streams and settle() need them. */
export function useFakeClock(now = T0): void {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'], now });
}

/** Moves the fake clock by `ms` (firing due timers) and lets what they started run. Step by the
 * delays under test: work a timer starts after several event-loop turns is only caught up with
 * by the next advance(). */
export async function advance(ms: number): Promise<void> {
  jest.advanceTimersByTime(ms);
  await settle();
}

/** Milliseconds on the fake clock since `since`. */
export const elapsed = (since = T0): number => Date.now() - since;
