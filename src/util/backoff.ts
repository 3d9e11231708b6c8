/** The delay before retry number `failures`: baseMs for the first failure, doubling per further
 * failure, never above maxMs. Fewer than one failure counts as one. */
export function exponentialBackoff(failures: number, baseMs: number, maxMs: number): number {
  // 0 * Infinity would be NaN below.
  if (!(baseMs > 0)) return Math.min(baseMs, maxMs);
  const doublings = failures >= 1 ? Math.floor(failures) - 1 : 0;
  // For huge counts 2 ** doublings overflows to Infinity, which the cap turns into maxMs.
  return Math.min(maxMs, baseMs * 2 ** doublings);
}

/** `ms` spread uniformly over [ms * (1 - fraction), ms * (1 + fraction)], so that many clients
 * backing off at once do not retry in lockstep. `fraction` is clamped to 0..1. */
export function withJitter(ms: number, fraction: number, random: () => number = Math.random): number {
  const f = Math.min(1, Math.max(0, fraction));
  if (f === 0) return ms;
  return ms * (1 - f + 2 * f * random());
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Jitter fraction, 0..1; 0 (the default) means exact delays. */
  jitter?: number;
  /** Source of uniform numbers in [0, 1); injectable for tests. */
  random?: () => number;
}

/** A capped, jittered exponential backoff for one retry loop (a watch reconnecting, say): next()
 * gives the delay before the next attempt, reset() after a success. */
export class Backoff {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private failures = 0;

  constructor(opts: BackoffOptions) {
    const { baseMs, maxMs, jitter = 0, random = Math.random } = opts;
    if (!(baseMs >= 0) || !(maxMs >= baseMs)) {
      throw new RangeError(`Backoff needs 0 <= baseMs <= maxMs, got baseMs=${baseMs} maxMs=${maxMs}`);
    }
    if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`Backoff jitter must be within 0..1, got ${jitter}`);
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.jitter = jitter;
    this.random = random;
  }

  /** The delay for the next attempt; grows with every call until reset(). Jitter never takes it
   * above maxMs, so the cap is a promise callers can rely on. */
  next(): number {
    this.failures++;
    const delay = exponentialBackoff(this.failures, this.baseMs, this.maxMs);
    return Math.min(this.maxMs, withJitter(delay, this.jitter, this.random));
  }

  reset(): void {
    this.failures = 0;
  }

  /** How many delays next() has handed out since the last reset. */
  get attempts(): number {
    return this.failures;
  }
}
