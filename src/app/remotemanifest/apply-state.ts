import type { ApplyResult, Removal } from './manifest-hub.js';

/** After this long an apply is done again even if nothing asked for it: a safety net for drift
 * that no watch reported (a watch the credentials may not open, say). */
const REAPPLY_MS = 10 * 60_000;

interface ClusterApply {
  generation: number;
  uid: string;
  at: number;
  results: ApplyResult[];
  /** Objects that should have been removed but could not be yet, and why. */
  pending: Removal[];
  /** Drift reports: an apply re-runs while `marks` is ahead of what it had seen. */
  marks: number;
  seen: number;
  failures: number;
  retryAt?: number;
}

/**
 * What the manage reconciler applied, per RemoteManifest and cluster, in memory: it decides
 * whether a reconcile must apply again (a new generation, drift, a failure due for retry) or
 * only sums up status, which most reconciles (status updates from the clusters) do. Lost on
 * restart on purpose: the first reconcile after a restart applies everything again.
 */
export class ApplyState {
  private readonly byKey = new Map<string, Map<string, ClusterApply>>();
  /** Clusters each RemoteManifest selected last, for events about a cluster. */
  private readonly targets = new Map<string, string[]>();
  /** Since when a cluster no longer selected could not be cleaned, per key and cluster. */
  private readonly releasing = new Map<string, Map<string, number>>();
  /** Drift marks of first applies under way, per key and cluster (see marks()). */
  private readonly firstMarks = new Map<string, Map<string, number>>();
  /** Since when each RemoteManifest waits for its clusters to report a generation. */
  private readonly progressing = new Map<string, { generation: number; since: number }>();

  private of(key: string): Map<string, ClusterApply> {
    let clusters = this.byKey.get(key);
    if (!clusters) this.byKey.set(key, (clusters = new Map<string, ClusterApply>()));
    return clusters;
  }

  get(key: string, cluster: string): ClusterApply | undefined {
    return this.byKey.get(key)?.get(cluster);
  }

  clusters(key: string): string[] {
    return [...(this.byKey.get(key)?.keys() ?? [])];
  }

  needsApply(key: string, cluster: string, generation: number, uid: string, now = Date.now()): boolean {
    const s = this.get(key, cluster);
    if (!s || s.generation !== generation || s.uid !== uid || s.marks !== s.seen) return true;
    if (s.retryAt !== undefined && now >= s.retryAt) return true;
    return now - s.at >= REAPPLY_MS;
  }

  /** The drift marks an apply starts from (see applied()). A first apply to a cluster starts a
   * count of its own, so drift reported while it runs is not lost; only applies under way get
   * one, so reports for keys that never apply (a remote object may name any) hold nothing. */
  marks(key: string, cluster: string): number {
    const s = this.get(key, cluster);
    if (s) return s.marks;
    const first = this.firstMarks.get(key)?.get(cluster);
    if (first !== undefined) return first;
    let clusters = this.firstMarks.get(key);
    if (!clusters) this.firstMarks.set(key, (clusters = new Map<string, number>()));
    clusters.set(cluster, 0);
    return 0;
  }

  applied(
    key: string,
    cluster: string,
    apply: { generation: number; uid: string; results: ApplyResult[]; pending: Removal[]; seen: number },
    now = Date.now(),
  ): void {
    const before = this.get(key, cluster);
    const failed = apply.pending.length > 0 || apply.results.some((r) => !r.applied);
    const failures = failed ? (before?.failures ?? 0) + 1 : 0;
    const first = this.firstMarks.get(key)?.get(cluster);
    this.dropFirstMarks(key, cluster);
    this.of(key).set(cluster, {
      ...apply,
      at: now,
      marks: before?.marks ?? first ?? apply.seen,
      failures,
      // Failed objects are retried with backoff: 1 s doubling to a minute.
      retryAt: failed ? now + Math.min(60_000, 1000 * 2 ** (failures - 1)) : undefined,
    });
  }

  /** Something changed in the cluster behind our back: the next reconcile applies again. */
  mark(key: string, cluster: string): void {
    const s = this.get(key, cluster);
    if (s) s.marks++;
    else {
      const clusters = this.firstMarks.get(key);
      const first = clusters?.get(cluster);
      if (first !== undefined) clusters!.set(cluster, first + 1);
    }
  }

  private dropFirstMarks(key: string, cluster: string): void {
    const clusters = this.firstMarks.get(key);
    clusters?.delete(cluster);
    if (clusters?.size === 0) this.firstMarks.delete(key);
  }

  /** Every RemoteManifest applied to or waiting for `cluster`. */
  keysOf(cluster: string): string[] {
    const keys = new Set<string>();
    for (const [key, clusters] of this.byKey) if (clusters.has(cluster)) keys.add(key);
    for (const [key, targets] of this.targets) if (targets.includes(cluster)) keys.add(key);
    return [...keys];
  }

  selected(key: string, clusters: string[]): void {
    this.targets.set(key, clusters);
  }

  /** Since when `key` waits for reports of `generation` (now, when it starts waiting). */
  progressingSince(key: string, generation: number, now = Date.now()): number {
    const current = this.progressing.get(key);
    if (current?.generation === generation) return current.since;
    this.progressing.set(key, { generation, since: now });
    return now;
  }

  /** When a release of `cluster` first failed (now, on the first failure). */
  releaseSince(key: string, cluster: string, now = Date.now()): number {
    let clusters = this.releasing.get(key);
    if (!clusters) this.releasing.set(key, (clusters = new Map<string, number>()));
    if (!clusters.has(cluster)) clusters.set(cluster, now);
    return clusters.get(cluster)!;
  }

  drop(key: string, cluster: string): void {
    this.dropFirstMarks(key, cluster);
    this.byKey.get(key)?.delete(cluster);
    this.releasing.get(key)?.delete(cluster);
  }

  /** When the next retry of a failed apply is due, as a reconcile result. */
  nextRetry(key: string, now = Date.now()): { requeueAfterMs: number } | undefined {
    const due = [...(this.byKey.get(key)?.values() ?? [])]
      .map((s) => s.retryAt)
      .filter((t): t is number => t !== undefined);
    return due.length ? { requeueAfterMs: Math.max(1, Math.min(...due) - now) } : undefined;
  }

  forget(key: string): void {
    this.firstMarks.delete(key);
    this.progressing.delete(key);
    this.byKey.delete(key);
    this.targets.delete(key);
    this.releasing.delete(key);
  }
}
