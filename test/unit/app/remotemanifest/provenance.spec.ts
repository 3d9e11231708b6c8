import type { ApplyResult } from '../../../../src/app/remotemanifest/manifest-hub.js';
import { inheritOwned, mayBeOurs } from '../../../../src/app/remotemanifest/provenance.js';
import type { ObjectId } from '../../../../src/app/remotemanifest/markers.js';

const cm = (name: string, namespace?: string): ObjectId => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name });
const ns = (name: string): ObjectId => ({ apiVersion: 'v1', kind: 'Namespace', name });

describe('mayBeOurs: whether a recorded apply may have left an object of ours', () => {
  it('is an applied object, or a failure that says owned', () => {
    expect(mayBeOurs({ applied: true, reason: 'Applied' })).toBe(true);
    expect(mayBeOurs({ applied: false, reason: 'Forbidden', owned: true })).toBe(true);
    expect(mayBeOurs({ applied: false, reason: 'Unreachable', owned: false })).toBe(false);
    expect(mayBeOurs({ applied: false, reason: 'Invalid', owned: false })).toBe(false);
  });

  it('reads a failure recorded before failures said owned by its reason, as then', () => {
    expect(mayBeOurs({ applied: false, reason: 'Unreachable' })).toBe(true);
    expect(mayBeOurs({ applied: false, reason: 'Invalid' })).toBe(true);
    for (const reason of ['AlreadyExists', 'Conflict', 'KindNotServed', 'Forbidden', 'NotFound', 'Error']) {
      expect(mayBeOurs({ applied: false, reason })).toBe(false);
    }
  });
});

describe('inheritOwned: a failure that never looked at its object keeps what was known', () => {
  const desired = { apiVersion: 'v1', kind: 'ConfigMap' };
  const failed = (id: ObjectId, extra: Partial<ApplyResult> = {}): ApplyResult => ({
    id,
    applied: false,
    reason: 'Unreachable',
    ...extra,
  });

  it('is owned when the record had the object, and not when it did not', () => {
    const results = inheritOwned(
      [failed(cm('was', 'default'), { desired }), failed(cm('new', 'default'), { desired })],
      [cm('was', 'default')],
    );
    expect(results.map((r) => [r.id.name, r.owned])).toEqual([
      ['was', true],
      ['new', false],
    ]);
  });

  it('matches an object the cluster never located with its namespace defaulted, or by name when unlocated', () => {
    // The manifest had no namespace; the record has the defaulted one.
    expect(inheritOwned([failed(cm('a'))], [cm('a', 'default')])[0]!.owned).toBe(true);
    // A cluster-scoped kind named with a stray namespace: unlocated, matched by group, kind, name.
    expect(inheritOwned([failed({ ...ns('team'), namespace: 'x' })], [ns('team')])[0]!.owned).toBe(true);
    // Located (the cluster answered for its kind): the namespace counts.
    expect(inheritOwned([failed(cm('a', 'other'), { desired })], [cm('a', 'default')])[0]!.owned).toBe(false);
    // Unlocated, but recorded in another namespace: a namespaced kind's, so not the same object.
    expect(inheritOwned([failed(cm('a', 'x'))], [cm('a', 'y')])[0]!.owned).toBe(false);
  });

  it('leaves applied results and failures that decided alone', () => {
    const applied: ApplyResult = { id: cm('a', 'default'), applied: true, reason: 'Applied' };
    const refused = failed(cm('b', 'default'), { reason: 'Invalid', owned: false, desired });
    const found = failed(cm('c', 'default'), { reason: 'Forbidden', owned: true, desired });
    expect(inheritOwned([applied, refused, found], [cm('b', 'default')])).toEqual([applied, refused, found]);
  });
});
