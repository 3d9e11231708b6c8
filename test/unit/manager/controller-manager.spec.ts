import { jest } from '@jest/globals';
import type { KubeObject } from '../../../src/cache/types.js';
import { ControllerManager, type ManagerStatus } from '../../../src/manager/controller-manager.js';
import type { EngineMetrics } from '../../../src/manager/engine-metrics.js';
import { TimerScheduler } from '../../../src/manager/scheduler.js';
import { FairLimiter } from '../../../src/queue/fair-limiter.js';
import type { DiscoveredReconciler } from '../../../src/reconcile/reconciler.explorer.js';
import type { ReconcileRequest, ReconcilerOptions } from '../../../src/reconcile/types.js';
import { advance, T0, useFakeClock } from '../../support/clock.js';
import {
  FakeTransport,
  json,
  page,
  settle,
  status,
  until,
  WatchStream,
  type RecordedRequest,
} from '../../../src/testing/fake-transport.js';
import { quietNestLogs } from '../../support/logger.js';

const CONFIGMAPS = '/api/v1/configmaps';
const SECRETS = '/api/v1/namespaces/default/secrets';
const REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const isList = (r: RecordedRequest): boolean => r.method === 'GET' && !r.query.has('watch');

const obj = (name: string): KubeObject => ({ metadata: { name, namespace: 'default', resourceVersion: '1' } });

describe('ControllerManager', () => {
  let fake: FakeTransport;
  let scheduler: TimerScheduler;
  let manager: ControllerManager | undefined;
  let forgotten: string[];
  let reconciled: string[];
  /** A snapshot of status() at every onChange. */
  let changes: { synced: boolean; error?: string; failing: number }[];

  quietNestLogs();
  beforeEach(() => {
    useFakeClock();
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    fake = new FakeTransport();
    scheduler = new TimerScheduler();
    forgotten = [];
    reconciled = [];
    changes = [];
  });
  afterEach(async () => {
    await manager?.stop(1000);
    manager = undefined;
    await settle();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  function reconciler(
    name: string,
    options: Partial<ReconcilerOptions> = {},
    reconcile: (req: ReconcileRequest) => void = () => undefined,
  ): DiscoveredReconciler {
    return {
      instance: {
        reconcile: (req) => {
          reconciled.push(`${name}:${req.namespace}/${req.name}`);
          reconcile(req);
        },
      },
      options: { apiVersion: 'v1', kind: 'ConfigMap', name, backoff: { baseMs: 100, maxMs: 1000 }, ...options },
    };
  }

  function create(...reconcilers: DiscoveredReconciler[]): ControllerManager {
    const metrics: EngineMetrics = {
      reconciled: () => undefined,
      queue: () => ({}),
      informer: () => ({}),
      forgetCluster: (cluster) => forgotten.push(cluster),
    };
    const m = new ControllerManager({
      cluster: 'c1',
      client: fake.client('c1'),
      limiter: new FairLimiter(8),
      metrics,
      scheduler,
      informerOptions: { backoff: { baseMs: 100, maxMs: 1000 }, watchList: false },
      probeIntervalMs: 15_000,
      onChange: () => {
        const s = m.status();
        changes.push({
          synced: s.synced,
          error: s.error?.reason,
          failing: s.controllers.reduce((n, c) => n + c.failing, 0),
        });
      },
    });
    for (const r of reconcilers) m.add(r);
    manager = m;
    return m;
  }

  const secretWatch = { apiVersion: 'v1', kind: 'Secret', namespace: 'default', map: () => [] };

  it('runs one informer per distinct watch, shared by the controllers that need it, and reports each', async () => {
    fake.onList(CONFIGMAPS, page([obj('a'), obj('b')], '10'));
    fake.onList(SECRETS, page([obj('s')], '20'));
    fake.onWatch(CONFIGMAPS, new WatchStream());
    fake.onWatch(SECRETS, new WatchStream());
    const m = create(reconciler('first', { watches: [secretWatch] }), reconciler('second'));
    m.start();
    await until(() => reconciled.length === 4 && fake.watches.length === 2);

    expect(fake.sent(isList)).toEqual([`GET ${CONFIGMAPS}?limit=500`, `GET ${SECRETS}?limit=500`]);
    expect(reconciled.sort()).toEqual(['first:default/a', 'first:default/b', 'second:default/a', 'second:default/b']);
    expect(m.status()).toEqual<ManagerStatus>({
      synced: true,
      watches: [
        { apiVersion: 'v1', kind: 'ConfigMap', synced: true, watching: true, objects: 2, relists: 1, watchRestarts: 0 },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: 'default',
          synced: true,
          watching: true,
          objects: 1,
          relists: 1,
          watchRestarts: 0,
        },
      ],
      controllers: [
        { name: 'first', failing: 0 },
        { name: 'second', failing: 0 },
      ],
    });
    expect(m.cache('v1', 'Secret')?.size).toBe(1);
    expect(m.cache('v1', 'Pod')).toBeUndefined();
    expect(() => m.add(reconciler('late'))).toThrow('add() after start()');
  });

  it('runs a reconciler without a primary kind on its sources and watches only, with an empty cache', async () => {
    fake.onList(SECRETS, page([obj('s')], '20'));
    fake.onWatch(SECRETS, new WatchStream());
    let enqueue: ((ref: { namespace?: string; name: string }) => void) | undefined;
    const sourced = reconciler('sourced', {
      apiVersion: undefined,
      kind: undefined,
      watches: [{ ...secretWatch, map: (s) => [{ namespace: 'elsewhere', name: `from-${s.metadata!.name}` }] }],
      sources: [(fn) => ((enqueue = fn), () => undefined)],
    });
    const m = create(sourced);
    m.start();
    await until(() => enqueue !== undefined && reconciled.length === 1);
    enqueue!({ namespace: 'manage-ns', name: 'rm' });
    await until(() => reconciled.length === 2);

    // No list of a primary kind: only the secondary watch's.
    expect(fake.sent(isList)).toEqual([`GET ${SECRETS}?limit=500`]);
    expect(reconciled).toEqual(['sourced:elsewhere/from-s', 'sourced:manage-ns/rm']);
    expect(m.status().watches.map((w) => w.kind)).toEqual(['Secret']);
    expect(() => create(reconciler('half', { kind: undefined }))).toThrow('give both apiVersion and kind, or neither');
  });

  it('is synced only once every watch has listed', async () => {
    let answer!: () => void;
    fake.onList(CONFIGMAPS, page([], '10'));
    fake.onList(SECRETS, () => new Promise((resolve) => (answer = () => resolve(page([], '20')))));
    fake.onWatch(CONFIGMAPS, new WatchStream());
    fake.onWatch(SECRETS, new WatchStream());
    const m = create(reconciler('first', { watches: [secretWatch] }));
    m.start();
    let synced = false;
    void m.waitForSync(new AbortController().signal).then(() => (synced = true));
    await until(() => fake.watches.length === 1);
    await settle();

    expect(m.status().synced).toBe(false);
    expect(m.status().watches.map((w) => w.synced)).toEqual([true, false]);
    expect(synced).toBe(false);
    answer();
    await until(() => synced, 'waitForSync');
    expect(m.status().synced).toBe(true);
  });

  it("names the access probe's finding first, else the first failing watch", async () => {
    fake.onList(CONFIGMAPS, page([], '10'));
    fake.onWatch(CONFIGMAPS, new WatchStream());
    fake.onList(SECRETS, status(403, 'Forbidden', 'secrets is forbidden'));
    let allowed = true;
    fake.on('POST', REVIEWS, (req) => {
      const body = req.body as { spec: { resourceAttributes: unknown } };
      return json(201, { spec: body.spec, status: { allowed } });
    });
    const m = create(reconciler('first', { watches: [secretWatch] }));
    m.start();
    await until(() => m.status().error !== undefined);

    const forbidden = {
      reason: 'Forbidden',
      message: `Forbidden: GET ${SECRETS}: 403 secrets is forbidden`,
      since: new Date(T0),
    };
    expect(m.status()).toMatchObject({ synced: false, error: forbidden });

    // The probe runs every probeIntervalMs; once it is denied, its finding comes first.
    allowed = false;
    await advance(15_000);
    await until(() => m.status().error?.message !== forbidden.message);
    expect(m.status().error).toEqual({
      reason: 'Forbidden',
      message: 'the credentials may no longer list configmaps (all namespaces) (SelfSubjectAccessReview denied)',
      since: new Date(T0 + 15_000),
    });
    expect(fake.requests.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { group: '', resource: 'configmaps', verb: 'list' } },
      },
    ]);
  });

  it('tells onChange of the sync, failures, recoveries and failing reconciles, once each', async () => {
    const broken = new WatchStream();
    fake.onList(CONFIGMAPS, status(503, 'ServiceUnavailable', 'down'), page([obj('a')], '10'));
    fake.onWatch(CONFIGMAPS, broken, new WatchStream());
    let attempts = 0;
    const m = create(
      reconciler('first', {}, () => {
        if (++attempts === 1) throw new Error('boom');
      }),
    );
    m.start();
    await until(() => changes.length === 1);
    await advance(100); // listed; the reconcile fails
    await until(() => changes.length === 3);
    await advance(100); // the retry succeeds
    await until(() => changes.length === 4);
    broken.fail();
    await until(() => changes.length === 5);
    await advance(100); // the watch is back
    await until(() => changes.length === 6);
    await advance(10_000);

    expect(changes).toEqual([
      { synced: false, error: 'ServerError', failing: 0 },
      { synced: true, error: undefined, failing: 0 },
      { synced: true, error: undefined, failing: 1 },
      { synced: true, error: undefined, failing: 0 },
      { synced: true, error: 'Unreachable', failing: 0 },
      { synced: true, error: undefined, failing: 0 },
    ]);
  });

  it('without watches, is synced once the cluster answers, and waitForSync retries with growing waits', async () => {
    const down = status(503, 'ServiceUnavailable', 'down');
    fake.on('GET', '/version', down, down, down, down, json(200, { major: '1', minor: '34' }));
    const m = create();
    m.start();
    let synced = false;
    void m.waitForSync(new AbortController().signal).then(() => (synced = true));
    await until(() => fake.requests.length === 1);
    // One 503 is not a verdict: the probe tries again after a second, then reports.
    expect(changes).toEqual([]);
    await advance(1000);
    await until(() => changes.length === 1);
    expect(m.status()).toEqual({
      synced: false,
      error: { reason: 'ServerError', message: 'ServerError: GET /version: 503 down', since: new Date(T0 + 1000) },
      watches: [],
      controllers: [],
    });

    await advance(500); // waitForSync's first wait: a check at 1500, its second try at 2500
    await advance(1000);
    await advance(999); // waitForSync's second wait, twice as long
    expect(synced).toBe(false);
    await advance(1);
    await until(() => synced, 'waitForSync');
    expect(fake.requests.map((r) => r.at - T0)).toEqual([0, 1000, 1500, 2500, 3500]);
    expect(m.status()).toEqual({ synced: true, watches: [], controllers: [] });
    expect(changes).toEqual([
      { synced: false, error: 'ServerError', failing: 0 },
      { synced: true, error: undefined, failing: 0 },
    ]);
  });

  it('stop() cancels the probe, ends the watches and forgets the metrics of the cluster', async () => {
    fake.onList(CONFIGMAPS, page([], '10'));
    fake.onWatch(CONFIGMAPS, new WatchStream());
    const m = create(reconciler('first'));
    m.start();
    await until(() => fake.watches.length === 1);
    expect(scheduler.names()).toEqual(['clusterregistry/c1/probe']);

    await m.stop(1000);
    manager = undefined;
    expect(scheduler.names()).toEqual([]);
    expect(fake.lastWatch.request!.signal!.aborted).toBe(true);
    expect(forgotten).toEqual(['c1']);
    await advance(60_000);
    expect(fake.requests.length).toBe(2);
  });
});
