import { covers } from '../../../../src/app/remotemanifest/drift.js';

const desired = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' }, annotations: { a: '1' } },
  spec: {
    replicas: 2,
    template: { spec: { containers: [{ name: 'main', image: 'web:1', ports: [{ containerPort: 80 }] }] } },
  },
};

/** What the apiserver keeps: defaults, status, labels of others. */
const live = {
  ...desired,
  metadata: { ...desired.metadata, uid: 'u', labels: { app: 'web', other: 'x' }, annotations: { a: '1', b: '2' } },
  spec: {
    replicas: 2,
    strategy: { type: 'RollingUpdate' },
    template: {
      spec: {
        containers: [{ name: 'main', image: 'web:1', ports: [{ containerPort: 80, protocol: 'TCP' }] }],
        restartPolicy: 'Always',
      },
    },
  },
  status: { replicas: 2 },
};

describe('drift: does the live object still hold what was applied?', () => {
  it('ignores what others add (defaults, status, their labels and annotations)', () => {
    expect(covers(live, desired)).toBe(true);
  });

  it('sees a changed value, a removed field, a removed label and a shorter list', () => {
    expect(covers({ ...live, spec: { ...live.spec, replicas: 3 } }, desired)).toBe(false);
    expect(covers({ ...live, metadata: { ...live.metadata, labels: { other: 'x' } } }, desired)).toBe(false);
    expect(covers({ ...live, metadata: { ...live.metadata, annotations: {} } }, desired)).toBe(false);
    const noContainers = { ...live, spec: { ...live.spec, template: { spec: { containers: [] } } } };
    expect(covers(noContainers, desired)).toBe(false);
    const { spec: _spec, ...noSpec } = live;
    expect(covers(noSpec, desired)).toBe(false);
  });

  it('compares scalars by text, and treats null and empty as absent', () => {
    expect(covers({ kind: 'ConfigMap', data: { port: 80 } }, { kind: 'ConfigMap', data: { port: '80' } })).toBe(true);
    expect(covers({ kind: 'ConfigMap' }, { kind: 'ConfigMap', data: {} })).toBe(true);
    expect(covers({ kind: 'ConfigMap' }, { kind: 'ConfigMap', data: null })).toBe(true);
    expect(covers({ kind: 'ConfigMap', data: { a: '1' } }, { kind: 'ConfigMap', data: null })).toBe(false);
    expect(
      covers({ kind: 'ConfigMap', data: { a: { x: 1 } } }, { kind: 'ConfigMap', data: { a: '[object Object]' } }),
    ).toBe(false);
  });
});
