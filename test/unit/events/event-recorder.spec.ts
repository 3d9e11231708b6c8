import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { ClusterEventRecorder, microTime, reportingController, truncate } from '../../../src/events/event-recorder.js';
import type { EventDropReason } from '../../../src/events/types.js';
import { FakeTransport, HANG, json, settle, status, until } from '../../../src/testing/fake-transport.js';
import { advance, T0, useFakeClock } from '../../support/clock.js';

const EVENTS = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/[^/]+\/events/;

const remoteCluster = (name = 'east', uid = 'uid-east') => ({
  apiVersion: 'clusterregistry.dev/v1alpha1',
  kind: 'RemoteCluster',
  metadata: { name, uid, resourceVersion: '7' },
});
const pod = (name = 'web') => ({ metadata: { name, namespace: 'shop', uid: `uid-${name}` } });

interface Body {
  metadata: { name: string; namespace: string };
  series?: { count: number; lastObservedTime: string };
  [key: string]: unknown;
}

/** A recorder on a fake API that accepts every create and patch (or answers as told). */
function rig(options: Partial<ConstructorParameters<typeof ClusterEventRecorder>[0]> = {}) {
  const fake = new FakeTransport()
    .on('POST', EVENTS, (req) => json(201, req.body))
    .on('PATCH', EVENTS, (req) => json(200, req.body));
  const drops: EventDropReason[] = [];
  const recorded: string[] = [];
  const recorder = new ClusterEventRecorder({
    cluster: 'east',
    client: fake.client('east'),
    reportingInstance: 'app-0',
    metrics: { dropped: (r) => drops.push(r), recorded: (t) => recorded.push(t) },
    retry: { attempts: 3, delayMs: 1_000 },
    ...options,
  });
  const posts = () => fake.requests.filter((r) => r.method === 'POST').map((r) => r.body as Body);
  const patches = () => fake.requests.filter((r) => r.method === 'PATCH');
  return { fake, recorder, drops, recorded, posts, patches };
}

beforeEach(() => {
  useFakeClock();
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('ClusterEventRecorder', () => {
  it('creates an events.k8s.io/v1 Event in "default" for a cluster-scoped object, as the API validates it', async () => {
    const { recorder, posts, fake } = rig();
    recorder
      .forController('clusterregistry.dev/remotecluster')
      .warning(remoteCluster(), 'Degraded', 'Unreachable: connect ECONNREFUSED', { action: 'Connect' });
    await recorder.idle();
    expect(fake.sent()).toEqual(['POST /apis/events.k8s.io/v1/namespaces/default/events']);
    const [body] = posts();
    expect(body).toEqual({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: expect.stringMatching(/^east\.[0-9a-f]+$/) as string, namespace: 'default' },
      eventTime: '2026-01-01T00:00:00.000000Z',
      reportingController: 'clusterregistry.dev/remotecluster',
      reportingInstance: 'app-0',
      action: 'Connect',
      reason: 'Degraded',
      type: 'Warning',
      note: 'Unreachable: connect ECONNREFUSED',
      regarding: {
        apiVersion: 'clusterregistry.dev/v1alpha1',
        kind: 'RemoteCluster',
        name: 'east',
        uid: 'uid-east',
        resourceVersion: '7',
      },
    });
    expect(recorder.stats()).toMatchObject({ recorded: 1, created: 1, patched: 0 });
  });

  it("puts a namespaced object's event in its namespace, and fills apiVersion and kind from the reconciler's kind", async () => {
    const { recorder, posts, fake } = rig();
    recorder.forReconciler('pod-mirror', { apiVersion: 'v1', kind: 'Pod' }).normal(pod(), 'Mirrored', 'copied');
    await recorder.idle();
    expect(fake.sent()).toEqual(['POST /apis/events.k8s.io/v1/namespaces/shop/events']);
    expect(posts()[0]).toMatchObject({
      reportingController: 'pod-mirror',
      action: 'Mirrored',
      regarding: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web', uid: 'uid-web' },
    });
  });

  it('returns at once, before anything is sent, even when the API never answers', () => {
    const { recorder, fake } = rig();
    fake.on('POST', EVENTS, HANG);
    recorder.normal(pod(), 'A', 'a');
    expect(fake.requests).toHaveLength(0);
    expect(recorder.stats().queued).toBe(1);
  });

  it('aggregates identical events into one Event whose series.count grows (one PATCH per write, not per event)', async () => {
    const { recorder, posts, patches } = rig();
    recorder.warning(pod(), 'BackOff', 'failing');
    await recorder.idle();
    await advance(1_000);
    for (let i = 0; i < 4; i++) recorder.warning(pod(), 'BackOff', 'failing');
    await recorder.idle();
    expect(posts()).toHaveLength(1);
    expect(patches()).toHaveLength(1);
    const patch = patches()[0]!;
    expect(patch.path).toBe(`/apis/events.k8s.io/v1/namespaces/shop/events/${posts()[0]!.metadata.name}`);
    expect(patch.headers['content-type']).toBe('application/merge-patch+json');
    expect(patch.body).toEqual({ series: { count: 5, lastObservedTime: microTime(T0 + 1_000) } });
    expect(recorder.stats()).toMatchObject({ recorded: 5, created: 1, patched: 1 });
  });

  it('tells events apart by object, type, reason, action, note and reporting controller', async () => {
    const { recorder, posts } = rig();
    recorder.warning(pod('a'), 'R', 'n');
    recorder.warning(pod('b'), 'R', 'n');
    recorder.normal(pod('a'), 'R', 'n');
    recorder.warning(pod('a'), 'S', 'n');
    recorder.warning(pod('a'), 'R', 'other note');
    recorder.warning(pod('a'), 'R', 'n', { action: 'Other' });
    recorder.forController('another').warning(pod('a'), 'R', 'n');
    recorder.warning(pod('a'), 'R', 'n'); // the first again
    await recorder.idle();
    expect(posts()).toHaveLength(7);
  });

  it('starts a new Event once the aggregation window has passed', async () => {
    const { recorder, posts, patches } = rig({ aggregationWindowMs: 60_000 });
    recorder.warning(pod(), 'R', 'n');
    await recorder.idle();
    await advance(60_001);
    recorder.warning(pod(), 'R', 'n');
    await recorder.idle();
    expect(posts()).toHaveLength(2);
    expect(patches()).toHaveLength(0);
  });

  it('creates the Event again when its series PATCH finds it gone (the API expired it)', async () => {
    const { recorder, posts, fake } = rig();
    recorder.warning(pod(), 'R', 'n');
    await recorder.idle();
    fake.on('PATCH', EVENTS, status(404, 'NotFound'));
    recorder.warning(pod(), 'R', 'n');
    await recorder.idle();
    expect(fake.sent().map((s) => s.split(' ')[0])).toEqual(['POST', 'PATCH', 'POST']);
    expect(posts()[1]!.series).toEqual({ count: 2, lastObservedTime: microTime(T0) });
    expect(posts()[1]!.metadata.name).not.toBe(posts()[0]!.metadata.name);
  });

  it('limits writes per object: 25 at once, then one every 5 minutes; new events past it are dropped and counted', async () => {
    const { recorder, posts, drops } = rig();
    for (let i = 0; i < 30; i++) recorder.warning(pod(), 'R', `note ${i}`);
    recorder.warning(pod('other'), 'R', 'note'); // another object has its own bucket
    await recorder.idle();
    expect(posts()).toHaveLength(26);
    expect(drops).toEqual(Array(5).fill('RateLimited'));
    await advance(5 * 60_000);
    recorder.warning(pod(), 'R', 'after 5 minutes');
    recorder.warning(pod(), 'R', 'one too many');
    await recorder.idle();
    expect(posts()).toHaveLength(27);
    expect(recorder.stats().dropped.RateLimited).toBe(6);
  });

  it("keeps counting a series past the rate limit and writes its count when the object's next token comes", async () => {
    const { recorder, posts, patches } = rig({ rateLimit: { burst: 2, refillMs: 60_000 } });
    recorder.warning(pod(), 'Flap', 'down');
    await recorder.idle();
    for (let i = 0; i < 10; i++) {
      await advance(1_000);
      recorder.warning(pod(), 'Flap', 'down');
      await recorder.idle();
    }
    // One create and one patch used the burst; the other 9 occurrences wait for a token.
    expect(posts()).toHaveLength(1);
    expect(patches()).toHaveLength(1);
    await advance(60_000);
    await recorder.idle();
    expect(patches()).toHaveLength(2);
    expect(patches()[1]!.body).toEqual({ series: { count: 11, lastObservedTime: microTime(T0 + 10_000) } });
    expect(recorder.stats().dropped.RateLimited).toBe(0);
  });

  it('drops what does not fit its queue, and counts it', async () => {
    const { recorder, fake, drops } = rig({ queueSize: 3 });
    fake.on('POST', EVENTS, HANG);
    for (let i = 0; i < 6; i++) recorder.normal(pod(`p${i}`), 'R', 'n');
    // One is being written (it left the queue), three wait, two did not fit.
    await until(() => fake.requests.length === 1);
    recorder.normal(pod('p9'), 'R', 'n');
    expect(drops).toEqual(['QueueFull', 'QueueFull', 'QueueFull']);
    expect(recorder.stats().queued).toBe(3);
    const closing = recorder.close(10);
    await advance(10);
    await closing;
    expect(drops.filter((d) => d === 'Shutdown')).toHaveLength(3);
  });

  it('does not retry what the API refuses (403 without RBAC): dropped as Rejected, logged once', async () => {
    const { recorder, fake, drops } = rig();
    fake.on('POST', EVENTS, status(403, 'Forbidden', 'events.events.k8s.io is forbidden'));
    recorder.normal(pod('a'), 'R', 'n');
    recorder.normal(pod('b'), 'R', 'n');
    await recorder.idle();
    expect(fake.requests).toHaveLength(2);
    expect(drops).toEqual(['Rejected', 'Rejected']);
    expect(Logger.prototype.warn).toHaveBeenCalledTimes(1);
    expect(jest.mocked(Logger.prototype.warn).mock.calls[0]![0]).toMatch(/create and patch on events\.k8s\.io events/);
    // Not remembered: once RBAC is fixed, the same event is created.
    fake.on('POST', EVENTS, (req) => json(201, req.body));
    recorder.normal(pod('a'), 'R', 'n');
    await recorder.idle();
    expect(recorder.stats().created).toBe(1);
  });

  it('retries what failed for a passing reason (500, no answer) 3 times, 1 s then 2 s apart, then drops it as Failed', async () => {
    const { recorder, fake, drops } = rig();
    fake.on('POST', EVENTS, status(500, 'InternalError'));
    recorder.normal(pod(), 'R', 'n');
    await until(() => fake.requests.length === 1);
    await advance(1_000);
    await until(() => fake.requests.length === 2);
    await advance(2_000);
    await recorder.idle();
    expect(fake.requests.map((r) => r.at - T0)).toEqual([0, 1_000, 3_000]);
    expect(drops).toEqual(['Failed']);
  });

  it('close() writes what is queued within its grace, drops the rest as Shutdown, and ignores later events', async () => {
    const { recorder, fake, drops, posts } = rig();
    recorder.normal(pod('a'), 'R', 'n');
    recorder.normal(pod('b'), 'R', 'n');
    await recorder.close(1_000);
    expect(posts()).toHaveLength(2);
    recorder.normal(pod('c'), 'R', 'n');
    await settle();
    expect(fake.requests).toHaveLength(2);

    const hung = rig();
    hung.fake.on('POST', EVENTS, HANG);
    hung.recorder.normal(pod('a'), 'R', 'n');
    hung.recorder.normal(pod('b'), 'R', 'n');
    hung.recorder.normal(pod('c'), 'R', 'n');
    await until(() => hung.fake.requests.length === 1);
    const closing = hung.recorder.close(500);
    await advance(500);
    await closing;
    // The one in flight was aborted; the two queued were dropped.
    expect(hung.fake.requests[0]!.signal?.aborted).toBe(true);
    expect(hung.drops).toEqual(['Shutdown', 'Shutdown']);
    expect(drops).toEqual([]);
  });

  it('counts every recorded event by type, aggregated ones included', async () => {
    const { recorder, recorded } = rig();
    recorder.normal(pod(), 'R', 'n');
    recorder.normal(pod(), 'R', 'n');
    recorder.warning(pod(), 'W', 'n');
    await recorder.idle();
    expect(recorded).toEqual(['Normal', 'Normal', 'Warning']);
  });

  it('ignores an object without a name rather than throwing', async () => {
    const { recorder, fake } = rig();
    expect(() => recorder.normal({ metadata: {} }, 'R', 'n')).not.toThrow();
    await settle();
    expect(fake.requests).toHaveLength(0);
  });

  it('cuts reason, action and note to what the API accepts (bytes of UTF-8)', async () => {
    const { recorder, posts } = rig();
    recorder.warning(pod(), 'R'.repeat(200), 'é'.repeat(1000), { action: 'A'.repeat(200) });
    await recorder.idle();
    const body = posts()[0]!;
    expect(Buffer.byteLength(body.note as string)).toBeLessThanOrEqual(1024);
    expect((body.reason as string).length).toBeLessThanOrEqual(128);
    expect((body.action as string).length).toBeLessThanOrEqual(128);
    expect(truncate('short', 10)).toBe('short');
  });

  it('names events validly for any object name', async () => {
    const { recorder, posts } = rig();
    recorder.normal({ kind: 'ClusterRole', name: 'system:controller:Foo' }, 'R', 'n');
    recorder.normal({ kind: 'X', name: 'x'.repeat(253) }, 'R', 'n');
    await recorder.idle();
    for (const { metadata } of posts()) {
      expect(metadata.name.length).toBeLessThanOrEqual(253);
      expect(metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });
});

describe('reportingController', () => {
  it('keeps qualified names and cleans up the others', () => {
    expect(reportingController('pod-mirror')).toBe('pod-mirror');
    expect(reportingController('clusterregistry.dev/remotecluster')).toBe('clusterregistry.dev/remotecluster');
    expect(reportingController('PodMirror')).toBe('PodMirror');
    expect(reportingController('my controller!')).toBe('my-controller');
    expect(reportingController('Example.com/x')).toBe('x');
    expect(reportingController('a'.repeat(80))).toHaveLength(63);
    expect(reportingController('---')).toBe('controller');
  });
});
