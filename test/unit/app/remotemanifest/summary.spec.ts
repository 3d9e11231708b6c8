import type { ClusterManifestStatus, ObjectStatus } from '../../../../src/app/remotemanifest/api.js';
import { isAvailable } from '../../../../src/app/remotemanifest/object-state.js';
import { summarize, type SummaryInput } from '../../../../src/app/remotemanifest/summary.js';

const cm = (name: string, extra: Partial<ObjectStatus> = {}): ObjectStatus => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  namespace: 'default',
  name,
  applied: true,
  reason: 'Applied',
  ...extra,
});
const entry = (cluster: string, objects: ObjectStatus[], observedGeneration = 2): ClusterManifestStatus => ({
  cluster,
  observedGeneration,
  objects,
});
const input = (over: Partial<SummaryInput>): SummaryInput => ({
  generation: 2,
  targets: [
    { cluster: 'a', state: 'Ready' },
    { cluster: 'b', state: 'Ready' },
  ],
  entries: [entry('a', [cm('x')]), entry('b', [cm('x')])],
  releasing: [],
  feedbackErrors: [],
  ...over,
});
const brief = (s: ReturnType<typeof summarize>) => [
  [s.applied.status, s.applied.reason],
  [s.available.status, s.available.reason],
  [s.degraded.status, s.degraded.reason],
];

describe('summarize: Applied, Available, Degraded', () => {
  it('is Applied and Available once every cluster reported the current generation', () => {
    const s = summarize(input({}));
    expect(brief(s)).toEqual([
      ['True', 'Applied'],
      ['True', 'Available'],
      ['False', 'AsExpected'],
    ]);
    expect(s.applied.message).toBe('2 object(s) applied to 2 cluster(s)');
    expect(s.counts).toEqual({ clusters: 2, objects: 2, applied: 2, available: 2 });
  });

  it('is Degraded by a removal that failed, not by one under way, and stays Applied', () => {
    const gone = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'old' };
    const underWay = summarize(
      input({
        entries: [{ ...entry('a', [cm('x')]), removals: [{ ...gone, reason: 'Removing' }] }, entry('b', [cm('x')])],
      }),
    );
    expect(brief(underWay)).toEqual([
      ['True', 'Applied'],
      ['True', 'Available'],
      ['False', 'AsExpected'],
    ]);
    const refused = { ...gone, reason: 'Forbidden', message: 'Forbidden: configmaps "old" is forbidden' };
    const s = summarize(input({ entries: [entry('a', [cm('x')]), { ...entry('b', [cm('x')]), removals: [refused] }] }));
    expect(brief(s)).toEqual([
      ['True', 'Applied'],
      ['True', 'Available'],
      ['True', 'RemovalPending'],
    ]);
    expect(s.degraded.message).toBe(
      'not removed yet (no longer listed): b: ConfigMap default/old: Forbidden: configmaps "old" is forbidden',
    );
    expect(s.counts).toEqual({ clusters: 2, objects: 2, applied: 2, available: 2 });
  });

  it('waits for a cluster that has not reported this generation', () => {
    const s = summarize(input({ entries: [entry('a', [cm('x')]), entry('b', [cm('x')], 1)] }));
    expect(brief(s)[0]).toEqual(['False', 'Progressing']);
    expect(s.applied.message).toBe('waiting for b to report');
    expect(brief(s)[2]).toEqual(['False', 'AsExpected']);
  });

  it('names failed objects with their message, one reason when they share it', () => {
    const failed = cm('y', { applied: false, reason: 'Conflict', message: 'was applied by RemoteManifest t/z' });
    const s = summarize(input({ entries: [entry('a', [cm('x'), failed]), entry('b', [cm('x')])] }));
    expect(brief(s)).toEqual([
      ['False', 'Conflict'],
      ['False', 'NotApplied'],
      ['True', 'Conflict'],
    ]);
    expect(s.applied.message).toBe('a: ConfigMap default/y: was applied by RemoteManifest t/z');
    const other = cm('z', { applied: false, reason: 'Forbidden', message: 'no' });
    expect(summarize(input({ entries: [entry('a', [failed, other]), entry('b', [])] })).applied.reason).toBe(
      'ApplyFailed',
    );
  });

  it('waits for clusters that do not exist or are not Ready, and only the latter degrade it', () => {
    const missing = summarize(input({ targets: [{ cluster: 'c', state: 'NotFound', message: '' }], entries: [] }));
    expect(brief(missing)).toEqual([
      ['False', 'ClusterNotFound'],
      ['False', 'NotApplied'],
      ['False', 'AsExpected'],
    ]);
    expect(missing.applied.message).toBe('waiting: RemoteCluster c does not exist');
    const down = summarize(
      input({ targets: [{ cluster: 'a', state: 'NotReady', message: 'Ready=False, Unreachable: refused' }] }),
    );
    expect(brief(down)).toEqual([
      ['False', 'ClusterNotReady'],
      ['False', 'NotApplied'],
      ['True', 'ClusterNotReady'],
    ]);
    expect(down.applied.message).toBe('waiting: a is not Ready (Ready=False, Unreachable: refused)');
  });

  it('says when a selector selects nothing', () => {
    const s = summarize(input({ targets: [], entries: [], emptySelector: 'env=prod' }));
    expect(s.applied).toEqual({
      status: 'False',
      reason: 'NoClusterSelected',
      message: 'no RemoteCluster matches clusterSelector env=prod',
    });
  });

  it('lists objects that are not available yet, a few and how many more', () => {
    const rolling = (name: string) =>
      cm(name, { apiVersion: 'apps/v1', kind: 'Deployment', generation: 3, observedGeneration: 2 });
    const s = summarize(input({ entries: [entry('a', ['p', 'q', 'r', 's'].map(rolling)), entry('b', [])] }));
    expect(brief(s)[1]).toEqual(['False', 'NotAvailable']);
    expect(s.available.message).toBe(
      'a: Deployment default/p: observedGeneration 2 < generation 3; a: Deployment default/q: observedGeneration 2 < generation 3; ' +
        'a: Deployment default/r: observedGeneration 2 < generation 3; and 1 more',
    );
  });

  it('degrades on clusters it could not clean and on bad feedback paths', () => {
    const s = summarize(
      input({ releasing: [{ cluster: 'old', message: 'Unreachable' }], feedbackErrors: ['statusFeedback x: bad'] }),
    );
    expect(s.degraded).toEqual({
      status: 'True',
      reason: 'CleanupPending',
      message: 'could not remove objects from clusters no longer selected: old: Unreachable; statusFeedback x: bad',
    });
  });
});

describe('isAvailable', () => {
  it('needs the controller to have seen the generation and no Ready or Available condition short of True', () => {
    expect(isAvailable(cm('x'))).toBe(true);
    expect(isAvailable(cm('x', { applied: false }))).toBe(false);
    const deploy = { apiVersion: 'apps/v1', kind: 'Deployment', generation: 1 };
    expect(isAvailable(cm('d', deploy))).toBe(false);
    expect(isAvailable(cm('d', { ...deploy, observedGeneration: 1 }))).toBe(true);
    expect(
      isAvailable(cm('d', { ...deploy, observedGeneration: 1, conditions: [{ type: 'Available', status: 'False' }] })),
    ).toBe(false);
    // A kind whose controller may never report observedGeneration (or that has none).
    expect(isAvailable(cm('i', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', generation: 1 }))).toBe(true);
    expect(isAvailable(cm('r', { kind: 'Widget', conditions: [{ type: 'Ready', status: 'Unknown' }] }))).toBe(false);
  });
});
