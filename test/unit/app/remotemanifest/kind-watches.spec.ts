import { KindWatches } from '../../../../src/app/remotemanifest/kind-watches.js';
import { UNKNOWN } from '../../../../src/app/remotemanifest/manifest-hub.js';
import { MANIFEST_ANNOTATION, MANIFEST_LABEL } from '../../../../src/app/remotemanifest/markers.js';
import type { InformerEvent, KubeObject } from '../../../../src/cache/types.js';
import { FakeTransport, until, WatchStream } from '../../../../src/testing/index.js';

const cm = (name: string, manifest: string, rv = '1'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name,
    namespace: 'default',
    resourceVersion: rv,
    labels: { [MANIFEST_LABEL]: manifest.replace('/', '.') },
    annotations: { [MANIFEST_ANNOTATION]: manifest },
  },
});

describe('KindWatches', () => {
  it('watches a kind by the manifest label only, and serves what it watched from its cache', async () => {
    const fake = new FakeTransport();
    // The WatchList initial stream: the current objects, then the bookmark that ends them.
    const stream = new WatchStream()
      .push('ADDED', cm('a', 't/one'))
      .push('ADDED', cm('b', 't/two'))
      .push('BOOKMARK', {
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { resourceVersion: '10', annotations: { 'k8s.io/initial-events-end': 'true' } },
      });
    fake.onWatch('/api/v1/configmaps', stream);
    const events: InformerEvent[] = [];
    const stop = new AbortController();
    const watches = new KindWatches(
      fake.client(),
      stop.signal,
      (e) => events.push(e),
      () => undefined,
    );
    const id = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'a' };

    expect(watches.cached(id)).toBe(UNKNOWN);
    const informer = watches.ensure('v1', 'ConfigMap');
    expect(watches.ensure('v1', 'ConfigMap')).toBe(informer);
    await until(() => informer.state().synced);
    // One request, a watch selecting by the manifest label; nothing listed.
    const sent = fake.sent();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^GET \/api\/v1\/configmaps\?watch=1&.*sendInitialEvents=true/);
    expect(sent[0]).toContain('labelSelector=clusterregistry.dev%2Fmanifest');
    expect((watches.cached(id) as KubeObject).metadata?.name).toBe('a');
    expect(watches.cached({ ...id, name: 'zzz' })).toBeUndefined();

    // Handed over to another RemoteManifest, then deleted: the cache and the events follow.
    stream.push('MODIFIED', cm('a', 't/two', '11'));
    await until(() => events.length === 3);
    expect((watches.cached(id) as KubeObject).metadata?.annotations?.[MANIFEST_ANNOTATION]).toBe('t/two');
    stream.push('DELETED', cm('a', 't/two', '12'));
    await until(() => events.length === 4);
    expect(watches.cached(id)).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['add', 'add', 'update', 'delete']);
    stop.abort();
  });
});
