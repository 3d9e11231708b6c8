import { selectTargets } from '../../../../src/app/remotemanifest/selection.js';
import type { CacheReader, KubeObject } from '../../../../src/index.js';

const rc = (name: string, ready: 'True' | 'False'): KubeObject => ({
  apiVersion: 'clusterregistry.dev/v1alpha1',
  kind: 'RemoteCluster',
  metadata: { name, labels: { fleet: 'x' } },
  status: { conditions: [{ type: 'Ready', status: ready, reason: 'Synced', message: 'm' }] },
});

const cache = (objects: KubeObject[]): CacheReader => ({
  get: (_ns, name) => objects.find((o) => o.metadata?.name === name),
  list: () => objects,
});

const rm = { metadata: { namespace: 'n', name: 'a' }, spec: { clusterSelector: { matchLabels: { fleet: 'x' } } } };

describe('selectTargets', () => {
  const clusters = cache([rc('c1', 'True'), rc('c2', 'True'), rc('c3', 'False')]);

  it('with the registry: Ready only where the runtime runs here (the apply side)', () => {
    const { targets } = selectTargets(rm, clusters, { has: (n: string) => n === 'c1' });
    expect(targets.map((t) => [t.cluster, t.state])).toEqual([
      ['c1', 'Ready'],
      ['c2', 'NotReady'],
      ['c3', 'NotReady'],
    ]);
  });

  it('without: Ready as the RemoteCluster says, wherever it runs (the sharded summary)', () => {
    const { targets } = selectTargets(rm, clusters);
    expect(targets.map((t) => [t.cluster, t.state])).toEqual([
      ['c1', 'Ready'],
      ['c2', 'Ready'],
      ['c3', 'NotReady'],
    ]);
  });
});
