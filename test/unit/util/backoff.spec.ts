import { Backoff, exponentialBackoff, withJitter } from '../../../src/util/backoff.js';

describe('exponentialBackoff', () => {
  it('starts at the base, doubles per failure and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => exponentialBackoff(n, 10, 100))).toEqual([10, 20, 40, 80, 100, 100]);
  });

  it('treats fewer than one failure as the first', () => {
    expect(exponentialBackoff(0, 10, 100)).toBe(10);
    expect(exponentialBackoff(-3, 10, 100)).toBe(10);
  });

  it('stays at the cap for huge failure counts, without Infinity or NaN', () => {
    for (const n of [1e4, 1e6, Number.MAX_SAFE_INTEGER, Infinity]) {
      expect(exponentialBackoff(n, 10, 300_000)).toBe(300_000);
      expect(exponentialBackoff(n, 0, 300_000)).toBe(0);
      expect(exponentialBackoff(n, Number.MIN_VALUE, 5)).toBe(5);
    }
  });
});

describe('withJitter', () => {
  it('spans [ms * (1 - f), ms * (1 + f)] over the random range', () => {
    expect(withJitter(100, 0.2, () => 0)).toBeCloseTo(80);
    expect(withJitter(100, 0.2, () => 0.5)).toBeCloseTo(100);
    expect(withJitter(100, 0.2, () => 0.999_999)).toBeCloseTo(120);
  });

  it('stays within bounds with the real random source', () => {
    for (let i = 0; i < 1000; i++) {
      const v = withJitter(1000, 0.5);
      expect(v).toBeGreaterThanOrEqual(500);
      expect(v).toBeLessThanOrEqual(1500);
    }
  });

  it('is exact without jitter', () => {
    expect(withJitter(100, 0, () => 0.9)).toBe(100);
  });
});

describe('Backoff', () => {
  it('grows, caps, counts attempts and starts over after reset', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(b.attempts).toBe(6);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(100);
  });

  it('jitters around the exponential delay but never above the cap', () => {
    const high = new Backoff({ baseMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0.999_999 });
    expect(high.next()).toBeCloseTo(150);
    for (let i = 0; i < 10; i++) expect(high.next()).toBeLessThanOrEqual(1000);
    const low = new Backoff({ baseMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0 });
    expect(low.next()).toBeCloseTo(50);
    expect(low.next()).toBeCloseTo(100);
  });

  it('rejects nonsensical options', () => {
    expect(() => new Backoff({ baseMs: 10, maxMs: 5 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: -1, maxMs: 5 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 1, maxMs: 5, jitter: 2 })).toThrow(RangeError);
  });
});
