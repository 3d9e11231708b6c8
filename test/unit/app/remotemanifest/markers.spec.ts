import {
  applyManager,
  clusterStatusManager,
  desiredObject,
  idKey,
  labelValue,
  MANIFEST_ANNOTATION,
  MANIFEST_LABEL,
  ownership,
} from '../../../../src/app/remotemanifest/markers.js';
import type { KubeObject } from '../../../../src/cache/types.js';

describe('markers on applied objects', () => {
  it('fits the label value in 63 characters and field managers in 128, distinct for long names', () => {
    expect(labelValue('team', 'web')).toBe('team.web');
    const long = labelValue('team', 'x'.repeat(100));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    expect(labelValue('team', `${'x'.repeat(100)}y`)).not.toBe(long);
    expect(applyManager('team', 'web')).toBe('clusterregistry.dev/team.web');
    expect(clusterStatusManager('c'.repeat(253)).length).toBeLessThanOrEqual(128);
  });

  it('applies the manifest without status and server fields, with the markers, in its namespace', () => {
    const manifest = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'a',
        namespace: 'elsewhere',
        labels: { app: 'x' },
        resourceVersion: '12',
        uid: 'u',
        managedFields: [],
        creationTimestamp: 'then',
      },
      data: { k: 'v' },
      status: { whatever: true },
    };
    expect(desiredObject(manifest, { namespace: 'team', name: 'web' }, 'default')).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'a',
        namespace: 'default',
        labels: { app: 'x', [MANIFEST_LABEL]: 'team.web' },
        annotations: { [MANIFEST_ANNOTATION]: 'team/web' },
      },
      data: { k: 'v' },
    });
    // Cluster-scoped kinds have no namespace.
    expect(
      desiredObject({ ...manifest, kind: 'Namespace' }, { namespace: 't', name: 'w' }, undefined).metadata,
    ).not.toHaveProperty('namespace');
  });

  it('tells whose an object is: label first, then field managers, else nobody', () => {
    const labelled = (label: string, ref?: string): KubeObject => ({
      metadata: { labels: { [MANIFEST_LABEL]: label }, annotations: ref ? { [MANIFEST_ANNOTATION]: ref } : {} },
    });
    expect(ownership(labelled('team.web', 'team/web'), 'team', 'web')).toEqual({ owner: 'self' });
    expect(ownership(labelled('team.api', 'team/api'), 'team', 'web')).toEqual({ owner: 'other', by: 'team/api' });
    const managed = (manager: string) => ({ metadata: { managedFields: [{ manager: 'kubectl-edit' }, { manager }] } });
    expect(ownership(managed('clusterregistry.dev/team.web'), 'team', 'web')).toEqual({ owner: 'self' });
    expect(ownership(managed('clusterregistry.dev/team.api'), 'team', 'web')).toEqual({
      owner: 'other',
      by: 'field manager clusterregistry.dev/team.api',
    });
    expect(ownership(managed('kubectl-create'), 'team', 'web')).toEqual({ owner: 'none' });
    expect(ownership({ metadata: {} }, 'team', 'web')).toEqual({ owner: 'none' });
  });

  it('names one object the same across apiVersions of its group', () => {
    const id = { kind: 'Ingress', namespace: 'n', name: 'a' };
    expect(idKey({ ...id, apiVersion: 'networking.k8s.io/v1' })).toBe(
      idKey({ ...id, apiVersion: 'networking.k8s.io/v1beta1' }),
    );
    expect(idKey({ ...id, apiVersion: 'v1' })).not.toBe(idKey({ ...id, apiVersion: 'example.com/v1' }));
  });
});
