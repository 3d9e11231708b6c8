import { ApplyState } from '../../../../src/app/remotemanifest/apply-state.js';
import type { ApplyResult } from '../../../../src/app/remotemanifest/manifest-hub.js';

const ok: ApplyResult = { id: { apiVersion: 'v1', kind: 'ConfigMap', name: 'a' }, applied: true, reason: 'Applied' };
const bad: ApplyResult = { ...ok, applied: false, reason: 'Conflict' };
const T = 1_000_000;

describe('ApplyState: when the manage reconciler applies again', () => {
  it('applies on a first sight, a new generation or uid, and then not until asked', () => {
    const s = new ApplyState();
    expect(s.needsApply('n/a', 'c', 1, 'u', T)).toBe(true);
    s.applied('n/a', 'c', { generation: 1, uid: 'u', results: [ok], pending: [], seen: 0 }, T);
    expect(s.needsApply('n/a', 'c', 1, 'u', T + 1)).toBe(false);
    expect(s.needsApply('n/a', 'c', 2, 'u', T + 1)).toBe(true);
    expect(s.needsApply('n/a', 'c', 1, 'v', T + 1)).toBe(true);
    expect(s.needsApply('n/a', 'other', 1, 'u', T + 1)).toBe(true);
    expect(s.nextRetry('n/a', T + 1)).toBeUndefined();
    // The safety net: ten minutes later, once.
    expect(s.needsApply('n/a', 'c', 1, 'u', T + 600_000)).toBe(true);
  });

  it('applies again after drift, also drift reported while the apply ran', () => {
    const s = new ApplyState();
    s.applied('n/a', 'c', { generation: 1, uid: 'u', results: [ok], pending: [], seen: 0 }, T);
    s.mark('n/a', 'c');
    expect(s.needsApply('n/a', 'c', 1, 'u', T)).toBe(true);
    const seen = s.marks('n/a', 'c');
    s.mark('n/a', 'c'); // during the apply
    s.applied('n/a', 'c', { generation: 1, uid: 'u', results: [ok], pending: [], seen }, T);
    expect(s.needsApply('n/a', 'c', 1, 'u', T)).toBe(true);
  });

  it('applies again after drift reported while the first apply to a cluster ran', () => {
    const s = new ApplyState();
    s.mark('n/a', 'c'); // no apply under way: nothing to remember
    const seen = s.marks('n/a', 'c');
    expect(seen).toBe(0);
    s.mark('n/a', 'c'); // during the first apply
    s.applied('n/a', 'c', { generation: 1, uid: 'u', results: [ok], pending: [], seen }, T);
    expect(s.needsApply('n/a', 'c', 1, 'u', T)).toBe(true);
    // The next apply catches up, and then nothing is due.
    const again = s.marks('n/a', 'c');
    s.applied('n/a', 'c', { generation: 1, uid: 'u', results: [ok], pending: [], seen: again }, T);
    expect(s.needsApply('n/a', 'c', 1, 'u', T)).toBe(false);
  });

  it('retries failures with backoff, 1 s doubling to a minute, and forgets them on success', () => {
    const s = new ApplyState();
    const fail = (at: number) =>
      s.applied('n/a', 'c', { generation: 1, uid: 'u', results: [bad], pending: [], seen: 0 }, at);
    fail(T);
    expect(s.needsApply('n/a', 'c', 1, 'u', T + 999)).toBe(false);
    expect(s.needsApply('n/a', 'c', 1, 'u', T + 1_000)).toBe(true);
    expect(s.nextRetry('n/a', T)).toEqual({ requeueAfterMs: 1_000 });
    fail(T);
    expect(s.nextRetry('n/a', T)).toEqual({ requeueAfterMs: 2_000 });
    for (let i = 0; i < 10; i++) fail(T);
    expect(s.nextRetry('n/a', T)).toEqual({ requeueAfterMs: 60_000 });
    s.applied('n/a', 'c', { generation: 1, uid: 'u', results: [ok], pending: [], seen: 0 }, T);
    expect(s.nextRetry('n/a', T)).toBeUndefined();
  });

  it('knows which RemoteManifests concern a cluster, and forgets', () => {
    const s = new ApplyState();
    s.applied('n/a', 'c1', { generation: 1, uid: 'u', results: [ok], pending: [], seen: 0 }, T);
    s.selected('n/b', ['c1', 'c2']);
    expect(s.keysOf('c1').sort()).toEqual(['n/a', 'n/b']);
    expect(s.keysOf('c2')).toEqual(['n/b']);
    expect(s.releaseSince('n/a', 'old', T)).toBe(T);
    expect(s.releaseSince('n/a', 'old', T + 5)).toBe(T);
    s.forget('n/a');
    expect(s.keysOf('c1')).toEqual(['n/b']);
    expect(s.releaseSince('n/a', 'old', T + 5)).toBe(T + 5);
  });
});

describe('ApplyState: waiting for reports', () => {
  it('remembers since when a generation waits, and starts over for a new one', () => {
    const s = new ApplyState();
    expect(s.progressingSince('n/a', 1, T)).toBe(T);
    expect(s.progressingSince('n/a', 1, T + 500)).toBe(T);
    expect(s.progressingSince('n/a', 2, T + 900)).toBe(T + 900);
    s.forget('n/a');
    expect(s.progressingSince('n/a', 2, T + 1_000)).toBe(T + 1_000);
  });
});
