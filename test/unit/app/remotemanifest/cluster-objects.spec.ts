import { ClusterObjects } from '../../../../src/app/remotemanifest/cluster-objects.js';
import { UNKNOWN, type ClusterSide } from '../../../../src/app/remotemanifest/manifest-hub.js';
import { MANIFEST_ANNOTATION, MANIFEST_LABEL, type ObjectId } from '../../../../src/app/remotemanifest/markers.js';
import type { KubeObject } from '../../../../src/cache/types.js';
import { FakeTransport, HANG, json, status } from '../../../../src/testing/index.js';

const CM = '/api/v1/namespaces/default/configmaps/a';
const rm = { namespace: 'team', name: 'web' };
const manifest: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { k: 'v' } };
const id: ObjectId = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'a' };
const ours = (extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name: 'a',
    namespace: 'default',
    uid: 'u1',
    labels: { [MANIFEST_LABEL]: 'team.web' },
    annotations: { [MANIFEST_ANNOTATION]: 'team/web' },
    ...extra,
  },
});

/** Ours, as our server-side apply leaves it: our field manager, operation Apply. */
const applied = (): KubeObject =>
  ours({ managedFields: [{ manager: 'clusterregistry.dev/team.web', operation: 'Apply' }] });

/** A side whose watch of ConfigMaps holds `objects` (or is not running: UNKNOWN). */
function side(objects?: KubeObject[]): ClusterSide {
  return {
    cached: () => (objects ? objects.find((o) => o.metadata?.name === 'a') : UNKNOWN),
    placed: () => undefined,
  };
}

describe('ClusterObjects', () => {
  let fake: FakeTransport;
  const sent = (): string[] => fake.sent((r) => r.pathname !== '/api/v1');

  beforeEach(() => {
    fake = new FakeTransport();
    fake.on('GET', '/api/v1', json(200, { resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }] }));
  });

  it('creates a new object by server-side apply without force, under the RemoteManifest field manager', async () => {
    fake.on('GET', CM, status(404, 'NotFound'));
    fake.on('PATCH', CM, json(200, ours({ generation: 1 })));
    const result = await new ClusterObjects(fake.client(), side([]), rm).apply(manifest);
    expect(result).toMatchObject({ id, applied: true, reason: 'Applied', uid: 'u1', generation: 1 });
    expect(sent()).toEqual([
      `GET ${CM}?resourceVersion=0`,
      `PATCH ${CM}?fieldManager=clusterregistry.dev%2Fteam.web&force=false`,
    ]);
    const patch = fake.requests.find((r) => r.method === 'PATCH')!;
    expect(patch.headers['content-type']).toBe('application/apply-patch+yaml');
    expect(patch.body).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'a',
        namespace: 'default',
        labels: { [MANIFEST_LABEL]: 'team.web' },
        annotations: { [MANIFEST_ANNOTATION]: 'team/web' },
      },
      data: { k: 'v' },
    });
  });

  it('forces an apply over its own object, known from the watch without a read', async () => {
    fake.on('PATCH', CM, json(200, ours()));
    await new ClusterObjects(fake.client(), side([ours()]), rm).apply(manifest);
    expect(sent()).toEqual([`PATCH ${CM}?fieldManager=clusterregistry.dev%2Fteam.web&force=true`]);
  });

  it("reports another RemoteManifest's object as a conflict and an unlabelled one as AlreadyExists, sending nothing", async () => {
    const theirs = ours({
      labels: { [MANIFEST_LABEL]: 'team.api' },
      annotations: { [MANIFEST_ANNOTATION]: 'team/api' },
    });
    const conflict = await new ClusterObjects(fake.client(), side([theirs]), rm).apply(manifest);
    expect(conflict).toMatchObject({
      applied: false,
      reason: 'Conflict',
      message: 'already applied by RemoteManifest team/api; not taken over',
    });
    fake.on(
      'GET',
      CM,
      json(200, { metadata: { name: 'a', namespace: 'default', managedFields: [{ manager: 'kubectl' }] } }),
    );
    const existing = await new ClusterObjects(fake.client(), side([]), rm).apply(manifest);
    expect(existing).toMatchObject({ applied: false, reason: 'AlreadyExists' });
    expect(existing.message).toMatch(
      /^exists and no RemoteManifest applied it, so it is left alone \(label it clusterregistry.dev\/manifest=team.web/,
    );
    expect(fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it("turns the apiserver's refusals into results: a create conflict, invalid, forbidden, unknown kind", async () => {
    fake.on('GET', CM, status(404, 'NotFound'));
    fake.on(
      'PATCH',
      CM,
      status(409, 'Conflict', 'Apply failed with 1 conflict: conflict with "clusterregistry.dev/team.api"'),
    );
    const objects = new ClusterObjects(fake.client(), undefined, rm);
    expect(await objects.apply(manifest)).toMatchObject({
      reason: 'Conflict',
      message: expect.stringContaining('conflict with "clusterregistry.dev/team.api"') as unknown,
    });
    fake.on('PATCH', CM, status(422, 'Invalid', 'ConfigMap "a" is invalid: data[bad key]: Invalid value'));
    expect(await objects.apply(manifest)).toMatchObject({ applied: false, reason: 'Invalid' });
    fake.on('GET', CM, status(403, 'Forbidden', 'configmaps "a" is forbidden'));
    expect(await objects.apply(manifest)).toMatchObject({ applied: false, reason: 'Forbidden' });
    fake.on('GET', '/apis/example.com/v1', status(404, 'NotFound'));
    const widget = await objects.apply({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } });
    expect(widget).toMatchObject({
      id: { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w' },
      applied: false,
      reason: 'KindNotServed',
    });
  });

  it('says with each failure whether the object there is, or may be, its own (owned)', async () => {
    const objects = new ClusterObjects(fake.client(), side([]), rm);
    const owned = async (): Promise<boolean | undefined> => (await objects.apply(manifest)).owned;
    // A create: a 4xx is a write that did not happen, and says nothing of what was there before
    // (a 404 may be a version no longer served); a server error or no answer may have made it.
    fake.on('GET', CM, status(404, 'NotFound'));
    fake.on('PATCH', CM, status(422, 'Invalid', 'ConfigMap "a" is invalid'));
    expect(await objects.apply(manifest)).not.toHaveProperty('owned');
    fake.on('PATCH', CM, status(500, 'InternalError', 'etcdserver: request timed out'));
    expect(await owned()).toBe(true);
    fake.on('PATCH', CM, () => {
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    });
    expect(await owned()).toBe(true);
    // Created meanwhile by someone else (a conflict without force): not its own.
    fake.on('PATCH', CM, status(409, 'Conflict', 'Apply failed with 1 conflict'));
    expect(await objects.apply(manifest)).toMatchObject({ reason: 'Conflict', owned: false });
    // Its own object, refused: still its own.
    fake.on('PATCH', CM, status(403, 'Forbidden', 'configmaps "a" is forbidden'));
    expect((await new ClusterObjects(fake.client(), side([applied()]), rm).apply(manifest)).owned).toBe(true);
    // Another's, or nobody's: not its own.
    fake.on('GET', CM, json(200, { metadata: { name: 'a', namespace: 'default', managedFields: [] } }));
    expect(await owned()).toBe(false);
    // It never looked at the object: the read, or discovery, failed. Nothing was learnt.
    fake.on('GET', CM, status(403, 'Forbidden', 'configmaps "a" is forbidden'));
    expect(await objects.apply(manifest)).not.toHaveProperty('owned');
    fake.on('GET', '/apis/example.com/v1', status(503, 'ServiceUnavailable'));
    const widget = await objects.apply({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } });
    expect(widget).toMatchObject({ applied: false, reason: 'ServiceUnavailable' });
    expect(widget).not.toHaveProperty('owned');
    fake.on('GET', CM, HANG);
    const hung = await new ClusterObjects(fake.client('test', 50), side([]), rm, 50).apply(manifest);
    expect(hung).toMatchObject({ applied: false, reason: 'Timeout' });
    expect(hung).not.toHaveProperty('owned');
  });

  it('deletes its own object with a uid precondition, and leaves anything else alone', async () => {
    fake.on('DELETE', CM, json(200, {}));
    expect(await new ClusterObjects(fake.client(), side([applied()]), rm).release(id, 'Delete')).toBe('removed');
    expect(sent()).toEqual([`DELETE ${CM}`]);
    const del = fake.requests.find((r) => r.method === 'DELETE')!;
    expect(del.body).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Background',
      preconditions: { uid: 'u1' },
    });

    fake.on('GET', CM, json(200, { metadata: { name: 'a', namespace: 'default', uid: 'u2' } }));
    expect(await new ClusterObjects(fake.client(), side([]), rm).release(id, 'Delete')).toBe('not-ours');
    fake.on('GET', CM, status(404, 'NotFound'));
    expect(await new ClusterObjects(fake.client(), side([]), rm).release(id, 'Delete')).toBe('absent');
    // Recreated by someone else between our read and our delete.
    fake.on('DELETE', CM, status(409, 'Conflict', 'the UID in the precondition does not match'));
    expect(await new ClusterObjects(fake.client(), side([applied()]), rm).release(id, 'Delete')).toBe('not-ours');
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(2);
  });

  it('removes an object recorded as a version its CRD no longer serves, as another version of its group', async () => {
    const widget: ObjectId = { apiVersion: 'example.com/v1alpha1', kind: 'Widget', namespace: 'default', name: 'a' };
    const old = '/apis/example.com/v1alpha1/namespaces/default/widgets/a';
    const now = '/apis/example.com/v1/namespaces/default/widgets/a';
    const served = json(200, { resources: [{ name: 'widgets', kind: 'Widget', namespaced: true }] });
    // Discovery as it was at the apply, then as it is: v1alpha1 no longer served.
    fake.on('GET', '/apis/example.com/v1alpha1', served, status(404, 'NotFound'));
    fake.on('GET', '/apis/example.com', json(200, { preferredVersion: { groupVersion: 'example.com/v1' } }));
    fake.on('GET', '/apis/example.com/v1', served);
    fake.on('GET', old, status(404, 'NotFound', 'the server could not find the requested resource'));
    fake.on('GET', now, json(200, { ...applied(), apiVersion: 'example.com/v1', kind: 'Widget' }));
    fake.on('DELETE', now, json(200, {}));
    const objects = new ClusterObjects(fake.client(), undefined, rm);
    expect(await objects.release(widget, 'Delete')).toBe('removed');
    expect(fake.sent()).toEqual([
      'GET /apis/example.com/v1alpha1',
      `GET ${old}`,
      'GET /apis/example.com/v1alpha1',
      'GET /apis/example.com',
      'GET /apis/example.com/v1',
      `GET ${now}`,
      `DELETE ${now}`,
    ]);
    // The watch still holding it as v1alpha1: the delete there answers 404, and it goes as v1.
    fake.on('GET', '/apis/example.com/v1alpha1', served, status(404, 'NotFound'));
    fake.on('DELETE', old, status(404, 'NotFound', 'the server could not find the requested resource'));
    fake.requests.length = 0;
    const watched = new ClusterObjects(fake.client(), side([applied()]), rm);
    expect(await watched.release(widget, 'Delete')).toBe('removed');
    expect(fake.sent().filter((r) => r.startsWith('DELETE'))).toEqual([`DELETE ${old}`, `DELETE ${now}`]);
    // Gone in every version: absent, after one fresh look at discovery.
    fake.on('GET', now, status(404, 'NotFound'));
    expect(await objects.release(widget, 'Delete')).toBe('absent');
  });

  it('deletes nothing its own apply did not write: a label and annotation anyone may patch in are not enough', async () => {
    // Someone who may patch, not delete, the object in the remote cluster marks it as ours.
    const marked = ours({ managedFields: [{ manager: 'kubectl-label', operation: 'Update' }] });
    fake.on('DELETE', CM, json(200, {}));
    expect(await new ClusterObjects(fake.client(), side([marked]), rm).release(id, 'Delete')).toBe('not-ours');
    // A cache without managedFields (a transform dropped them): read fresh, and decided the same.
    fake.on('GET', CM, json(200, marked));
    expect(await new ClusterObjects(fake.client(), side([ours()]), rm).release(id, 'Delete')).toBe('not-ours');
    fake.on('GET', CM, json(200, applied()));
    expect(await new ClusterObjects(fake.client(), side([ours()]), rm).release(id, 'Delete')).toBe('removed');
    expect(sent()).toEqual([`GET ${CM}`, `GET ${CM}`, `DELETE ${CM}`]);
  });

  it('orphans by removing only its markers and its field manager, guarded by tests', async () => {
    const live = ours({
      managedFields: [{ manager: 'kubectl-edit' }, { manager: 'clusterregistry.dev/team.web', operation: 'Apply' }],
    });
    fake.on('GET', CM, json(200, live));
    fake.on('PATCH', CM, json(200, {}));
    expect(await new ClusterObjects(fake.client(), side([ours()]), rm).release(id, 'Orphan')).toBe('removed');
    const patch = fake.requests.find((r) => r.method === 'PATCH')!;
    expect(patch.headers['content-type']).toBe('application/json-patch+json');
    expect(patch.body).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'u1' },
      { op: 'test', path: '/metadata/labels/clusterregistry.dev~1manifest', value: 'team.web' },
      { op: 'remove', path: '/metadata/labels/clusterregistry.dev~1manifest' },
      { op: 'test', path: '/metadata/annotations/clusterregistry.dev~1remotemanifest', value: 'team/web' },
      { op: 'remove', path: '/metadata/annotations/clusterregistry.dev~1remotemanifest' },
      { op: 'test', path: '/metadata/managedFields/1/manager', value: 'clusterregistry.dev/team.web' },
      { op: 'remove', path: '/metadata/managedFields/1' },
    ]);
  });

  it('throws when the cluster cannot be reached, so the caller knows it is not clean', async () => {
    fake.on('GET', CM, status(503, 'ServiceUnavailable'));
    await expect(new ClusterObjects(fake.client(), side([]), rm).release(id, 'Delete')).rejects.toThrow(/503/);
  });
});
