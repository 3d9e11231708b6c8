import { jest } from '@jest/globals';
import { DEFAULT_MAX_WATCH_EVENT_BYTES } from '../../../src/client/body.js';
import { ClusterClient } from '../../../src/client/cluster-client.js';
import { AccessProbe } from '../../../src/manager/access-probe.js';
import {
  fakeKubeConfig,
  FakeTransport,
  json,
  settle,
  status,
  type Reply,
} from '../../../src/testing/fake-transport.js';
import { advance, T0, useFakeClock } from '../../support/clock.js';

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

// One reset, timeout, 5xx or 429 is not a verdict: a second try after a pause decides.
describe('AccessProbe, a failure that may pass', () => {
  const target = { spec: { apiVersion: 'v1', kind: 'ConfigMap' }, resource: () => undefined };
  const REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
  const allowed = json(201, { status: { allowed: true } });

  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  function probeWith(...replies: Reply[]) {
    const fake = new FakeTransport();
    fake.on('POST', REVIEWS, ...replies);
    const client = new ClusterClient({ name: 't', kubeConfig: fakeKubeConfig(), dispatcher: fake.dispatcher });
    let changes = 0;
    const probe = new AccessProbe(
      client,
      () => [target],
      () => changes++,
    );
    const reviewsAt = (): number[] => fake.requests.filter((r) => r.pathname === REVIEWS).map((r) => r.at - T0);
    return { probe, changes: () => changes, reviewsAt };
  }

  it('stays ok when a review fails once and the second try answers', async () => {
    const p = probeWith(allowed, allowed, status(503, 'ServiceUnavailable', 'etcd is slow'), allowed);
    await p.probe.check(new AbortController().signal);
    expect(p.probe.state()).toEqual({ ok: true });
    expect(p.changes()).toBe(1);

    const second = p.probe.check(new AbortController().signal);
    await settle();
    expect(p.probe.state()).toEqual({ ok: true });
    await advance(1000);
    await second;
    expect(p.probe.state()).toEqual({ ok: true });
    expect(p.changes()).toBe(1);
    expect(p.reviewsAt()).toEqual([0, 0, 0, 1000, 1000]);
  });

  it('reports a failure that happens again after the pause, waiting out a Retry-After first', async () => {
    const p = probeWith(status(429, 'TooManyRequests', 'slow down', { 'retry-after': '3' }));
    const check = p.probe.check(new AbortController().signal);
    await settle();
    await advance(2999);
    expect(p.reviewsAt()).toEqual([0]);
    expect(p.probe.state()).toEqual({});
    await advance(1);
    await check;
    expect(p.reviewsAt()).toEqual([0, 3000]);
    expect(p.probe.state()).toMatchObject({ ok: false, error: { reason: 'TooManyRequests' } });
  });

  it('reports a denial at once', async () => {
    const p = probeWith(json(201, { status: { allowed: false } }));
    await p.probe.check(new AbortController().signal);
    expect(p.probe.state()).toMatchObject({ ok: false, error: { reason: 'Forbidden' } });
    expect(p.reviewsAt()).toEqual([0]);
  });
});
