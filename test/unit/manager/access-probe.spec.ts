import { DEFAULT_MAX_WATCH_EVENT_BYTES } from '../../../src/client/body.js';
import { ClusterClient } from '../../../src/client/cluster-client.js';
import { AccessProbe } from '../../../src/manager/access-probe.js';
import { fakeKubeConfig, FakeTransport, json, status } from '../../../src/testing/fake-transport.js';

// Where SelfSubjectAccessReview is not served the probe lists with limit=1: one object at most,
// so it reads no more than one object may be (a watch event), not a whole list page.
describe('AccessProbe, limit=1 list', () => {
  const target = { spec: { apiVersion: 'v1', kind: 'ConfigMap' }, resource: () => undefined };

  async function probeAgainst(listBytes: number) {
    const fake = new FakeTransport();
    fake.on('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', status(404, 'NotFound', 'not served'));
    const item = { metadata: { name: 'big' }, data: { v: 'x'.repeat(listBytes) } };
    fake.on('GET', '/api/v1/configmaps', json(200, { kind: 'ConfigMapList', items: [item] }));
    const client = new ClusterClient({ name: 't', kubeConfig: fakeKubeConfig(), dispatcher: fake.dispatcher });
    const probe = new AccessProbe(
      client,
      () => [target],
      () => undefined,
    );
    await probe.check(new AbortController().signal);
    expect(fake.sent()).toContain('GET /api/v1/configmaps?limit=1');
    return probe.state();
  }

  it('accepts a list of one object up to the largest object', async () => {
    expect(await probeAgainst(DEFAULT_MAX_WATCH_EVENT_BYTES - 1024)).toEqual({ ok: true });
  });

  it('refuses a body larger than one object as ResponseTooLarge, well under the list limit', async () => {
    const state = await probeAgainst(DEFAULT_MAX_WATCH_EVENT_BYTES + 1024);
    expect(state.ok).toBe(false);
    expect(state.error).toMatchObject({ reason: 'ResponseTooLarge' });
    expect(state.error!.message).toMatch(
      new RegExp(
        `^ResponseTooLarge: GET /api/v1/configmaps: response body larger than ${DEFAULT_MAX_WATCH_EVENT_BYTES} bytes`,
      ),
    );
  });
});
