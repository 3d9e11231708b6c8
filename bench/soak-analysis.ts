// How the soak reads its samples: growth at a constant number of runtimes (replica-0 runs between
// 1 and 8 of them as shards move), fitted and by the lowest count per number of runtimes.

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Least squares of y = a + b t + c r (t in hours, r runtimes): b is the growth per hour at a
 * constant number of runtimes. Falls back to a fit over t alone when r never changes.
 */
export function growthPerHour(t: number[], r: number[], y: number[]): { perHour: number; perRuntime: number } {
  const n = t.length;
  const sum = (f: (i: number) => number): number =>
    Array.from({ length: n }, (_, i) => f(i)).reduce((a, b) => a + b, 0);
  const [st, sr, sy] = [sum((i) => t[i]!), sum((i) => r[i]!), sum((i) => y[i]!)];
  const [stt, srr, str, sty, sry] = [
    sum((i) => t[i]! ** 2),
    sum((i) => r[i]! ** 2),
    sum((i) => t[i]! * r[i]!),
    sum((i) => t[i]! * y[i]!),
    sum((i) => r[i]! * y[i]!),
  ];
  // Normal equations [[n, st, sr], [st, stt, str], [sr, str, srr]] (a, b, c) = (sy, sty, sry).
  const m = [
    [n, st, sr, sy],
    [st, stt, str, sty],
    [sr, str, srr, sry],
  ];
  const det3 = (a: number[][]): number =>
    a[0]![0]! * (a[1]![1]! * a[2]![2]! - a[1]![2]! * a[2]![1]!) -
    a[0]![1]! * (a[1]![0]! * a[2]![2]! - a[1]![2]! * a[2]![0]!) +
    a[0]![2]! * (a[1]![0]! * a[2]![1]! - a[1]![1]! * a[2]![0]!);
  const base = m.map((row) => row.slice(0, 3));
  const det = det3(base);
  if (Math.abs(det) < 1e-9) return { perHour: slope(t, y), perRuntime: 0 };
  const solve = (col: number): number =>
    det3(base.map((row, i) => row.map((v, j) => (j === col ? m[i]![3]! : v)))) / det;
  return { perHour: solve(1), perRuntime: solve(2) };
}

export interface FloorGrowth {
  /** Per state (e.g. "7 runtimes, 5 shards") seen at least twice in each half: lowest count over
   * as many samples in each, first half -> last half. */
  counts: { state: string; first: number; last: number }[];
  /** The largest rise of those lowest counts, per hour between the halves' middles. */
  perHour: number;
  /** How many states could be compared. */
  compared: number;
}

/**
 * Splits the samples into halves by time and, for every state of the process (what it runs: e.g.
 * runtimes and shards held) seen at least twice in each half, compares the lowest value in each: a
 * leak raises it, a transient (a handover's timers) raises single samples only. Both lowests are
 * taken over the same number of samples, k (the smaller half's count): the k earliest of the first
 * half and the k latest of the last, so the two are as far apart in time as they can be and neither
 * is the lowest of more draws than the other (the lowest of 8 samples against the lowest of 2
 * leaned toward "grown").
 */
export function floorGrowth(hours: number[], states: string[], values: number[]): FloorGrowth {
  const n = hours.length;
  const half = Math.floor(n / 2);
  const middle = (from: number, to: number): number => (hours[from]! + hours[Math.max(from, to - 1)]!) / 2;
  const span = n >= 2 ? middle(half, n) - middle(0, half) : 0;
  const counts: FloorGrowth['counts'] = [];
  for (const state of [...new Set(states)].sort()) {
    const first = values.filter((_, i) => i < half && states[i] === state);
    const last = values.filter((_, i) => i >= half && states[i] === state);
    const k = Math.min(first.length, last.length);
    if (k >= 2) counts.push({ state, first: Math.min(...first.slice(0, k)), last: Math.min(...last.slice(-k)) });
  }
  const rise = Math.max(0, ...counts.map((c) => c.last - c.first));
  return { counts, perHour: span > 0 ? rise / span : 0, compared: counts.length };
}

export function describeFloors(f: FloorGrowth): string {
  const each = f.counts.map((c) => `${c.state} ${c.first}->${c.last}`).join(', ');
  return `${f.perHour >= 0 ? '+' : ''}${f.perHour.toFixed(2)}/hour (${each || 'no state seen twice in both halves'})`;
}
