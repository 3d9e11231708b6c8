import { PodMirror } from '../../../src/app/examples/pod-mirror.reconciler.js';
import { FakeTransport, json, ReconcilerHarness, status } from '../../../src/testing/index.js';

// The testing kit as a user would use it: a reconciler's reconcile() with an in-memory cache and
// recording clients, no cluster.
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: 'shop', name: 'web' },
  status: { phase: 'Running' },
};

describe('PodMirror through the testing kit', () => {
  it('applies the mirror of a cached pod with server-side apply', async () => {
    const manage = new FakeTransport().on('PATCH', /configmaps/, json(200, {}));
    const harness = new ReconcilerHarness(new PodMirror('remote-1', manage.client('manage'), 'mirror'), {
      cluster: 'remote-1',
      objects: [pod],
    });
    expect(await harness.reconcile({ namespace: 'shop', name: 'web' })).toBeUndefined();
    expect(manage.sent()).toEqual([
      'PATCH /api/v1/namespaces/mirror/configmaps/remote-1.shop.web?fieldManager=pod-mirror&force=true',
    ]);
    const [request] = manage.requests;
    expect(request!.headers['content-type']).toBe('application/apply-patch+yaml');
    expect(request!.body).toMatchObject({
      data: { cluster: 'remote-1', namespace: 'shop', pod: 'web', phase: 'Running' },
    });
  });

  it('deletes the mirror of a pod that is gone, and a mirror already gone is fine', async () => {
    const manage = new FakeTransport().on('DELETE', /configmaps/, status(404, 'NotFound'));
    const harness = new ReconcilerHarness(new PodMirror('remote-1', manage.client('manage'), 'mirror'));
    await harness.reconcile({ namespace: 'shop', name: 'web' });
    expect(manage.sent()).toEqual(['DELETE /api/v1/namespaces/mirror/configmaps/remote-1.shop.web']);
  });

  it('fails (and so is retried with backoff) when the manage cluster refuses, counting the attempts', async () => {
    const manage = new FakeTransport().on('PATCH', /configmaps/, status(403, 'Forbidden'));
    const harness = new ReconcilerHarness(new PodMirror('remote-1', manage.client('manage'), 'mirror'), {
      objects: [pod],
    });
    await expect(harness.reconcile({ namespace: 'shop', name: 'web' })).rejects.toThrow(/403/);
    await expect(harness.reconcile({ namespace: 'shop', name: 'web' })).rejects.toThrow(/403/);
    expect(manage.requests).toHaveLength(2);
  });
});
