import { jest } from '@jest/globals';
import { Informer, type InformerOptions, type InformerState } from '../../../src/cache/informer.js';
import { stripManagedFields } from '../../../src/cache/store.js';
import type { InformerEvent, KubeObject, WatchSpec } from '../../../src/cache/types.js';
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
import { entry, envelope, msg, str, watchFrame } from '../../support/protobuf.js';

const PODS = '/api/v1/pods';
const PODS_SPEC: WatchSpec = { apiVersion: 'v1', kind: 'Pod' };
const isWatch = (r: RecordedRequest): boolean => r.query.has('watch');
const isList = (r: RecordedRequest): boolean => !isWatch(r);
/** Math.random() is pinned to 0.5: the jitter is neutral and the server timeout is the middle of [300, 600). */
const watchOf = (rv: string, path = PODS): string =>
  `GET ${path}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}&timeoutSeconds=450`;

function pod(name: string, rv: string, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { name, namespace: 'default', resourceVersion: rv }, ...extra };
}

/** A pod as the informer caches it: lists omit apiVersion/kind, the informer fills them in. */
const cached = (obj: KubeObject): KubeObject => ({ ...obj, apiVersion: 'v1', kind: 'Pod' });

/** A watch stream that the server closes at once, without an event. */
const emptyWatch = (): WatchStream => {
  const w = new WatchStream();
  w.end();
  return w;
};

describe('Informer', () => {
  let fake: FakeTransport;
  let abort: AbortController;
  let events: InformerEvent[];
  let restarts: string[];
  let relists: number;

  beforeEach(() => {
    useFakeClock();
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    fake = new FakeTransport();
    abort = new AbortController();
    events = [];
    restarts = [];
    relists = 0;
  });

  afterEach(async () => {
    abort.abort();
    await settle();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  function start(spec: WatchSpec = PODS_SPEC, options: InformerOptions = {}): Informer {
    const informer = new Informer(fake.client(), spec, {
      backoff: { baseMs: 100, maxMs: 1000 },
      metrics: { watchRestart: (reason) => restarts.push(reason), relist: () => relists++ },
      // The list-then-watch path; the WatchList path has its own cases.
      watchList: false,
      ...options,
    });
    informer.on((e) => events.push(e));
    void informer.start(abort.signal);
    return informer;
  }

  const watchesOpened = (n: number): Promise<void> => until(() => fake.watches.length >= n, `watch #${n}`);

  describe('list', () => {
    it('reads every page with limit and continue, then watches from the last page resourceVersion', async () => {
      const [a, b, c] = [pod('a', '3'), pod('b', '4'), pod('c', '9')];
      fake.onList(PODS, page([a, b], '5', 'token-1'), page([c], '10'));
      fake.onWatch(PODS, new WatchStream());
      const informer = start(PODS_SPEC, { pageSize: 2 });
      await watchesOpened(1);

      expect(fake.sent()).toEqual([
        'GET /api/v1/pods?limit=2',
        'GET /api/v1/pods?limit=2&continue=token-1',
        watchOf('10'),
      ]);
      expect(events).toEqual([
        { type: 'add', object: cached(a) },
        { type: 'add', object: cached(b) },
        { type: 'add', object: cached(c) },
      ]);
      expect([...informer.store.keys()]).toEqual(['default/a', 'default/b', 'default/c']);
      expect(informer.state()).toEqual<InformerState>({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 0,
        resourceVersion: '10',
      });
      expect(informer.resourceInfo).toEqual({
        apiVersion: 'v1',
        kind: 'Pod',
        plural: 'pods',
        guessed: true,
        namespaced: true,
      });
    });

    it('narrows list and watch to the namespace and selectors', async () => {
      const path = '/apis/apps/v1/namespaces/team-a/deployments';
      fake.onList(path, page([], '7'));
      fake.onWatch(path, new WatchStream());
      start({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        namespace: 'team-a',
        labelSelector: 'app=web',
        fieldSelector: 'metadata.name=x',
      });
      await watchesOpened(1);

      expect(fake.sent()).toEqual([
        `GET ${path}?limit=500&labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dx`,
        `GET ${path}?watch=1&allowWatchBookmarks=true&resourceVersion=7&timeoutSeconds=450&labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dx`,
      ]);
    });

    it('starts the list over when a continue token expired (410 on a later page), without duplicates', async () => {
      const [a, b, a2, b2, c] = [pod('a', '3'), pod('b', '4'), pod('a', '6'), pod('b', '7'), pod('c', '8')];
      fake.onList(
        PODS,
        page([a, b], '5', 'token-1'),
        status(410, 'Expired', 'The provided continue parameter is too old'),
        page([a2, b2], '8', 'token-2'),
        page([c], '8'),
      );
      fake.onWatch(PODS, new WatchStream());
      const informer = start(PODS_SPEC, { pageSize: 2 });
      await watchesOpened(1);

      expect(fake.sent()).toEqual([
        'GET /api/v1/pods?limit=2',
        'GET /api/v1/pods?limit=2&continue=token-1',
        'GET /api/v1/pods?limit=2',
        'GET /api/v1/pods?limit=2&continue=token-2',
        watchOf('8'),
      ]);
      expect(events).toEqual([
        { type: 'add', object: cached(a2) },
        { type: 'add', object: cached(b2) },
        { type: 'add', object: cached(c) },
      ]);
      expect(informer.store.size).toBe(3);
      expect(informer.state()).toEqual({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 0,
        resourceVersion: '8',
      });
      expect(restarts).toEqual([]);
    });

    it('ignores malformed items and events: no object, no metadata, no or empty name', async () => {
      const ok = pod('ok', '2');
      // The watch decoder already refuses an event whose object is not a JSON object.
      const nameless = [
        {},
        { metadata: null },
        { metadata: {} },
        { metadata: { name: '' } },
        { metadata: { name: 7 } },
      ];
      fake.onList(PODS, page([null, 'x', 42, [], ...nameless, ok], '5'));
      fake.onWatch(PODS, new WatchStream());
      const informer = start();
      await watchesOpened(1);
      for (const object of nameless) fake.lastWatch.push('ADDED', object).push('DELETED', object);
      fake.lastWatch.push('MODIFIED', { metadata: { resourceVersion: '99' } });
      await settle();

      expect(events).toEqual([{ type: 'add', object: cached(ok) }]);
      expect([...informer.store.keys()]).toEqual(['default/ok']);
      expect(informer.state()).toEqual({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 0,
        resourceVersion: '5',
      });
    });

    it('treats a list without an items array as empty', async () => {
      fake.onList(PODS, json(200, { metadata: { resourceVersion: '5' }, items: { not: 'an array' } }));
      fake.onWatch(PODS, new WatchStream());
      const informer = start();
      await watchesOpened(1);
      expect(informer.state()).toEqual({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 0,
        resourceVersion: '5',
      });
      expect(informer.store.size).toBe(0);
    });
  });

  describe('a list without end', () => {
    it('fails as ResponseTooLarge past maxListObjects, however the pages come', async () => {
      let n = 0;
      // Every page has one object and a continue token: a server that never ends its list.
      fake.onList(PODS, () => {
        n++;
        return page([pod(`p${n}`, '1')], '5', `token-${n}`);
      });
      const informer = start(PODS_SPEC, { maxListObjects: 3 });
      await until(() => informer.state().error !== undefined, 'the failure');
      expect(fake.sent()).toHaveLength(4);
      expect(informer.state()).toMatchObject({
        synced: false,
        error: {
          reason: 'ResponseTooLarge',
          message: 'ResponseTooLarge: list /api/v1/pods: more than 3 objects in one list',
        },
      });
      expect(informer.store.size).toBe(0);
    });

    it('counts objects as sent: one object repeated on every page, or in an initial state, fails too', async () => {
      fake.onList(PODS, () => page([pod('same', '1')], '5', 'again'));
      const listing = start(PODS_SPEC, { maxListObjects: 3 });
      await until(() => listing.state().error !== undefined, 'the list failure');
      expect(fake.sent()).toHaveLength(4);
      expect(listing.state().error?.reason).toBe('ResponseTooLarge');

      const stream = new WatchStream();
      fake.onWatch(PODS, stream);
      const streamed = start(PODS_SPEC, { watchList: true, maxListObjects: 3 });
      await watchesOpened(1);
      for (let i = 0; i < 4; i++) stream.push('ADDED', pod('same', '1'));
      await until(() => streamed.state().error !== undefined, 'the watch failure');
      expect(streamed.state().error?.message).toBe(
        'ResponseTooLarge: watch /api/v1/pods: more than 3 objects in one list',
      );
    });

    it('fails a watch that would grow the cache past maxListObjects, keeping what it holds', async () => {
      fake.onList(PODS, page([pod('a', '1'), pod('b', '2')], '5'));
      const stream = new WatchStream();
      fake.onWatch(PODS, stream);
      const informer = start(PODS_SPEC, { maxListObjects: 3 });
      await watchesOpened(1);
      // Changes to what is cached are fine at the bound; a fourth object is not.
      stream.push('ADDED', pod('c', '6')).push('MODIFIED', pod('a', '7')).push('ADDED', pod('d', '8'));
      await until(() => informer.state().error !== undefined, 'the failure');
      expect(informer.state().error).toMatchObject({
        reason: 'ResponseTooLarge',
        message: 'ResponseTooLarge: watch /api/v1/pods: more than 3 objects cached',
      });
      expect([...informer.store.keys()].sort()).toEqual(['default/a', 'default/b', 'default/c']);
      expect(informer.store.get('default/a')?.metadata?.resourceVersion).toBe('7');
      // Then a list, not the same watch again (it would replay up to d and fail there).
      fake.onWatch(PODS, new WatchStream());
      await advance(5_000);
      await watchesOpened(2);
      expect(fake.sent()).toEqual([
        'GET /api/v1/pods?limit=500',
        watchOf('5'),
        'GET /api/v1/pods?limit=500',
        watchOf('5'),
      ]);
    });

    it('fails a WatchList initial state past maxListObjects too', async () => {
      const stream = new WatchStream();
      fake.onWatch(PODS, stream);
      const informer = start(PODS_SPEC, { watchList: true, maxListObjects: 3 });
      await watchesOpened(1);
      for (const name of ['a', 'b', 'c', 'd']) stream.push('ADDED', pod(name, '1'));
      await until(() => informer.state().error !== undefined, 'the failure');
      expect(informer.state()).toMatchObject({
        synced: false,
        error: {
          reason: 'ResponseTooLarge',
          message: 'ResponseTooLarge: watch /api/v1/pods: more than 3 objects in one list',
        },
      });
      expect(events).toEqual([]);
    });
  });

  describe('410 Gone', () => {
    /** When (ms since T0) the n-th watch was sent: whatever is due now runs first, then the clock
     * moves to the next timer (a backoff's sleep), so each watch is seen at the exact time. */
    async function watchSentAt(n: number): Promise<number> {
      const watches = (): number => fake.sent(isWatch).length;
      for (;;) {
        for (let turn = 0; turn < 50 && watches() < n; turn++) await settle();
        if (watches() >= n) return Date.now() - T0;
        jest.advanceTimersToNextTimer();
      }
    }

    it('relists and emits exactly the difference: updates, adds and deletes', async () => {
      const [a, b, c] = [pod('a', '1'), pod('b', '1'), pod('c', '1')];
      const a11 = pod('a', '11');
      const [b12, d13] = [pod('b', '12'), pod('d', '13')];
      fake.onList(PODS, page([a, b, c], '10'), page([a11, b12, d13], '20'));
      fake.onWatch(PODS, new WatchStream(), new WatchStream());
      const informer = start();
      await watchesOpened(1);
      fake.lastWatch.push('MODIFIED', { ...a11, apiVersion: 'v1', kind: 'Pod' });
      await settle();
      events.length = 0;

      fake.lastWatch.push('ERROR', {
        kind: 'Status',
        code: 410,
        reason: 'Expired',
        message: 'too old resource version',
      });
      await watchesOpened(2);

      // a is unchanged (the watch had already brought resourceVersion 11), b changed, d is new, c vanished.
      expect(events).toEqual([
        { type: 'update', object: cached(b12), old: cached(b) },
        { type: 'add', object: cached(d13) },
        { type: 'delete', object: cached(c) },
      ]);
      expect([...informer.store.keys()]).toEqual(['default/a', 'default/b', 'default/d']);
      expect(fake.sent()).toEqual([
        'GET /api/v1/pods?limit=500',
        watchOf('10'),
        'GET /api/v1/pods?limit=500',
        watchOf('20'),
      ]);
      expect(informer.state()).toEqual({
        synced: true,
        watching: true,
        relists: 2,
        watchRestarts: 1,
        resourceVersion: '20',
      });
      expect(relists).toBe(2);
      expect(restarts).toEqual(['Gone']);
    });

    it.each([
      ['an HTTP status of the watch request', () => status(410, 'Expired', 'too old resource version')],
      [
        'an ERROR event in the stream',
        () => new WatchStream().push('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' }),
      ],
    ])('relists at once, without backoff or error, when 410 comes as %s', async (_, gone) => {
      fake.onList(PODS, page([pod('a', '1')], '10'), page([pod('a', '1')], '20'));
      fake.onWatch(PODS, gone(), new WatchStream());
      const states: InformerState[] = [];
      const informer = start();
      informer.onState(() => states.push(informer.state()));
      await until(() => fake.sent(isWatch).length === 2, 'second watch');

      expect(fake.sent()).toEqual([
        'GET /api/v1/pods?limit=500',
        watchOf('10'),
        'GET /api/v1/pods?limit=500',
        watchOf('20'),
      ]);
      expect(Date.now()).toBe(T0); // no time passed: nothing waited
      expect(restarts).toEqual(['Gone']);
      expect(states.filter((s) => s.error)).toEqual([]);
      // The unchanged object is not reported again.
      expect(events.map((e) => e.type)).toEqual(['add']);
    });
    it('backs off when 410 follows every fresh list, reports it from the fifth in a row, and clears it on an event', async () => {
      fake.onList(PODS, page([pod('a', '1')], '10'));
      fake.onWatch(PODS, status(410, 'Expired', 'too old resource version'));
      const informer = start();
      const watchesAt: number[] = [];
      const waitWatch = async (n: number): Promise<void> => void watchesAt.push(await watchSentAt(n));
      for (let n = 1; n <= 5; n++) await waitWatch(n);
      // At once after the first 410 (a compaction), then 100, 200, 400 ms (base 100, doubling).
      expect(watchesAt).toEqual([0, 0, 100, 300, 700]);
      await settle();
      expect(informer.state().error).toMatchObject({ reason: 'Gone' });
      expect(informer.state().error?.message).toContain('410 Gone with no event between them');
      // The next list goes through; the failure stays while the series goes on.
      const healthy = new WatchStream();
      fake.onWatch(PODS, healthy);
      await waitWatch(6);
      expect(watchesAt[5]).toBe(1500); // 800 ms after the fifth
      expect(informer.state().error).toMatchObject({ reason: 'Gone' });
      healthy.push('MODIFIED', pod('a', '11'));
      await settle();
      expect(informer.state().error).toBeUndefined();
      expect(restarts).toEqual(['Gone', 'Gone', 'Gone', 'Gone', 'Gone']);
    });

    it.each([
      ['a bookmark', false, (w: WatchStream) => w.push('BOOKMARK', { metadata: { resourceVersion: '11' } })],
      [
        'a whole initial state (WatchList)',
        true,
        (w: WatchStream) =>
          w.push('ADDED', pod('a', '1')).push('BOOKMARK', {
            metadata: { resourceVersion: '10', annotations: { 'k8s.io/initial-events-end': 'true' } },
          }),
      ],
    ])('backs off the same when every watch sends %s before its 410: that is no change', async (_, streamed, first) => {
      fake.onList(PODS, page([pod('a', '1')], '10'));
      fake.onWatch(PODS, () =>
        first(new WatchStream()).push('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' }),
      );
      start(PODS_SPEC, { watchList: streamed });
      const at: number[] = [];
      for (let n = 1; n <= 5; n++) at.push(await watchSentAt(n));
      expect(at).toEqual([0, 0, 100, 300, 700]);
    });

    it('counts no 410 after a watch that lasted in a series: a quiet kind is never failed for 410s days apart', async () => {
      fake.onList(PODS, page([pod('a', '1')], '10'));
      const streams = Array.from({ length: 8 }, () => new WatchStream());
      fake.onWatch(PODS, ...streams);
      const informer = start();
      for (let n = 0; n < 7; n++) {
        await watchesOpened(n + 1);
        const at = Date.now();
        // Quiet: a bookmark now and then, no change, then the apiserver restarts (410).
        await advance(60_000);
        streams[n]!.push('BOOKMARK', { metadata: { resourceVersion: '10' } });
        streams[n]!.push('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' });
        await watchesOpened(n + 2);
        // Relisted and watching again at once, with no backoff.
        expect(Date.now() - at).toBe(60_000);
      }
      expect(informer.state().error).toBeUndefined();
      expect(restarts).toEqual(Array.from({ length: 7 }, () => 'Gone'));
    });

    it('starts a list over once when its continue token expires, and backs off when it expires again', async () => {
      const expired = status(410, 'Expired', 'The provided continue parameter is too old');
      fake.onList(PODS, page([pod('a', '1')], '5', 'token-1'), expired, page([pod('a', '1')], '5', 'token-2'), expired);
      fake.onWatch(PODS, new WatchStream());
      const informer = start(PODS_SPEC, { pageSize: 1 });
      await until(() => fake.sent().length === 4, 'four list requests');
      await settle();
      expect(fake.sent()).toEqual([
        'GET /api/v1/pods?limit=1',
        'GET /api/v1/pods?limit=1&continue=token-1',
        'GET /api/v1/pods?limit=1',
        'GET /api/v1/pods?limit=1&continue=token-2',
      ]);
      expect(informer.state()).toMatchObject({ synced: false, error: { reason: 'Gone' } });
      // The failed list waits for the backoff (100 ms) like any failure, then lists again.
      await advance(99);
      expect(fake.sent()).toHaveLength(4);
      await advance(1);
      await until(() => fake.sent().length === 5, 'the list again');
    });
  });

  describe('watch', () => {
    it('resumes from the last resourceVersion it saw, bookmarks included, without relisting', async () => {
      const w1 = new WatchStream();
      const w2 = new WatchStream();
      fake.onList(PODS, page([], '10'));
      fake.onWatch(PODS, w1, w2, new WatchStream());
      const informer = start();
      await watchesOpened(1);

      w1.push('ADDED', pod('x', '11')).push('MODIFIED', pod('x', '12'));
      w1.push('BOOKMARK', { kind: 'Pod', metadata: { resourceVersion: '15' } });
      await settle();
      expect(informer.state().resourceVersion).toBe('15');
      w1.end();
      await watchesOpened(2);
      w2.push('DELETED', pod('x', '16'));
      w2.end();
      await watchesOpened(3);

      expect(fake.sent()).toEqual(['GET /api/v1/pods?limit=500', watchOf('10'), watchOf('15'), watchOf('16')]);
      expect(events).toEqual([
        { type: 'add', object: pod('x', '11') },
        { type: 'update', object: pod('x', '12'), old: pod('x', '11') },
        { type: 'delete', object: pod('x', '12') },
      ]);
      expect(Date.now()).toBe(T0); // a watch that delivered events reconnects at once
      expect(restarts).toEqual(['Timeout', 'Timeout']);
      expect(informer.state()).toEqual({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 2,
        resourceVersion: '16',
      });
    });

    it('backs off exponentially between watches that close without events, and resets after a healthy one', async () => {
      const healthy = new WatchStream();
      fake.onList(PODS, page([], '10'));
      fake.onWatch(
        PODS,
        emptyWatch(),
        emptyWatch(),
        emptyWatch(),
        emptyWatch(),
        emptyWatch(),
        emptyWatch(),
        healthy,
        emptyWatch(),
        new WatchStream(),
      );
      start();
      await watchesOpened(1);

      // base 100 ms doubling to the 1000 ms cap; jitter pinned to neutral.
      for (const delay of [100, 200, 400, 800, 1000, 1000]) {
        const before = fake.watches.length;
        await advance(delay - 1);
        expect(fake.watches.length).toBe(before);
        await advance(1);
        expect(fake.watches.length).toBe(before + 1);
      }
      // The seventh watch is healthy: after it ends the next one opens at once, and the backoff starts over.
      healthy.push('ADDED', pod('x', '11')).end();
      await watchesOpened(8);
      await advance(99);
      expect(fake.watches.length).toBe(8);
      await advance(1);
      expect(fake.watches.length).toBe(9);

      expect(fake.requests.filter(isWatch).map((r) => r.at - T0)).toEqual([
        0, 100, 300, 700, 1500, 2500, 3500, 3500, 3600,
      ]);
      expect(restarts).toEqual(['Closed', 'Closed', 'Closed', 'Closed', 'Closed', 'Closed', 'Timeout', 'Closed']);
    });

    it('resumes a broken watch from the last change it applied, so nothing seen comes back', async () => {
      const broken = new WatchStream();
      const next = new WatchStream();
      fake.onList(PODS, page([], '10'));
      fake.onWatch(PODS, broken, next);
      const informer = start();
      await watchesOpened(1);
      broken.push('ADDED', pod('a', '11')).push('DELETED', pod('a', '12'));
      await settle();
      broken.fail();
      await settle();
      await advance(100);
      // From 12, not from the list's 10: a replay from 10 would add the deleted pod again.
      expect(fake.sent(isWatch)).toEqual([watchOf('10'), watchOf('12')]);
      next.push('MODIFIED', pod('b', '13'));
      await settle();
      expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['add a', 'delete a', 'add b']);
      expect(informer.state().resourceVersion).toBe('13');
      expect(relists).toBe(1);
    });

    it('takes a stream that worked and broke as a restart, and reports only a reconnect that fails too', async () => {
      const working = new WatchStream();
      fake.onList(PODS, page([], '10'));
      fake.onWatch(PODS, working, status(503, 'ServiceUnavailable', 'apiserver shutting down'), new WatchStream());
      const informer = start();
      await watchesOpened(1);
      working.push('ADDED', pod('a', '11'));
      await settle();
      working.fail();
      await settle();
      // One reset (a load balancer's, an apiserver rolling) does not make the kind fail.
      expect(informer.state().error).toBeUndefined();
      expect(restarts).toEqual(['Unreachable']);
      await advance(100);
      expect(informer.state().error).toMatchObject({ reason: 'ServerError' });
      await advance(200);
      expect(fake.sent(isWatch)).toEqual([watchOf('10'), watchOf('11'), watchOf('11')]);
      expect(informer.state().error).toBeUndefined();
    });

    it('counts a quiet watch that stayed open longer than 10 s as healthy', async () => {
      const quiet = new WatchStream();
      fake.onList(PODS, page([], '10'));
      fake.onWatch(PODS, emptyWatch(), quiet, emptyWatch(), new WatchStream());
      start();
      await watchesOpened(1);
      await advance(100); // the first empty watch: 100 ms backoff
      expect(fake.watches.length).toBe(2);
      await advance(10_001);
      quiet.end(); // no event, but open for more than 10 s: healthy, backoff reset
      await watchesOpened(3);
      await advance(99);
      expect(fake.watches.length).toBe(3);
      await advance(1);
      expect(fake.watches.length).toBe(4);
    });

    it('reconnects after a broken stream or a non-410 ERROR event, reporting the failure', async () => {
      const broken = new WatchStream();
      const erroring = new WatchStream();
      fake.onList(PODS, page([], '10'));
      fake.onWatch(PODS, broken, erroring, new WatchStream());
      const informer = start();
      await watchesOpened(1);

      broken.fail();
      await settle();
      expect(informer.state().error).toEqual({
        reason: 'Unreachable',
        message: 'Unreachable: other side closed (UND_ERR_SOCKET)',
        since: new Date(T0),
      });
      await advance(100);
      expect(fake.watches.length).toBe(2);
      expect(informer.state()).toEqual({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 1,
        resourceVersion: '10',
      });

      erroring.push('ERROR', { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd\nleader changed' });
      await settle();
      expect(informer.state().error).toEqual({
        reason: 'ServerError',
        message: 'ServerError: watch: etcd leader changed',
        since: new Date(T0 + 100),
      });
      await advance(199);
      expect(fake.watches.length).toBe(2);
      await advance(1);
      expect(fake.watches.length).toBe(3);
      expect(fake.sent(isWatch)).toEqual([watchOf('10'), watchOf('10'), watchOf('10')]);
      expect(restarts).toEqual(['Unreachable', 'ServerError']);
      expect(relists).toBe(1);
    });

    it('cuts a watch the server keeps open past its timeoutSeconds and the grace, and watches on from where it got to', async () => {
      fake.onList(PODS, page([pod('a', '1')], '10'));
      const kept = new WatchStream();
      fake.onWatch(PODS, kept, new WatchStream());
      start(PODS_SPEC, { watchGraceMs: 60_000 });
      await watchesOpened(1);
      kept.push('MODIFIED', pod('a', '11'));
      // timeoutSeconds=450 asked of the server, which never ends the stream.
      await advance(450_000 + 59_999);
      expect(fake.watches.length).toBe(1);
      await advance(1);
      await watchesOpened(2);
      expect(kept.open).toBe(false);
      expect(fake.sent(isWatch)).toEqual([watchOf('10'), watchOf('11')]);
      expect(relists).toBe(1);
    });

    it('stops when the signal aborts: the open watch request is aborted and start() resolves', async () => {
      fake.onList(PODS, page([], '10'));
      fake.onWatch(PODS, new WatchStream());
      const informer = new Informer(fake.client(), PODS_SPEC, { watchList: false });
      const running = informer.start(abort.signal);
      expect(informer.start(abort.signal)).toBe(running);
      await watchesOpened(1);

      abort.abort(new Error('test over'));
      await expect(running).resolves.toBeUndefined();
      expect(fake.lastWatch.request!.signal!.aborted).toBe(true);
      expect(fake.lastWatch.open).toBe(false);
      expect(informer.state()).toEqual({
        synced: true,
        watching: false,
        relists: 1,
        watchRestarts: 0,
        resourceVersion: '10',
      });
      expect(fake.requests.length).toBe(2);
    });
  });

  describe('WatchList', () => {
    const INITIAL = `GET ${PODS}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=450`;
    const endBookmark = (rv: string): KubeObject => ({
      metadata: { resourceVersion: rv, annotations: { 'k8s.io/initial-events-end': 'true' } },
    });
    const startStreamed = (options: InformerOptions = {}): Informer =>
      start(PODS_SPEC, { watchList: true, ...options });

    it('takes the initial state from one watch request and keeps watching on it, with no list', async () => {
      const [a, b] = [pod('a', '3'), pod('b', '4')];
      const stream = new WatchStream();
      fake.onWatch(PODS, stream);
      const informer = startStreamed();
      await watchesOpened(1);
      stream.push('ADDED', a).push('ADDED', b);
      await settle();
      // Nothing is emitted or synced before the end bookmark: the state is not complete yet.
      expect(events).toEqual([]);
      expect(informer.state().synced).toBe(false);

      stream.push('BOOKMARK', endBookmark('7'));
      await informer.waitForSync(abort.signal);
      const b2 = cached(pod('b', '8'));
      stream.push('MODIFIED', b2);
      await settle();

      expect(fake.sent()).toEqual([INITIAL]);
      expect(events).toEqual([
        { type: 'add', object: cached(a) },
        { type: 'add', object: cached(b) },
        { type: 'update', object: b2, old: cached(b) },
      ]);
      expect(informer.state()).toEqual<InformerState>({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 0,
        resourceVersion: '8',
      });
    });

    it('resumes a broken stream after its initial state as a plain watch, not a second WatchList', async () => {
      const stream = new WatchStream();
      const next = new WatchStream();
      fake.onWatch(PODS, stream, next);
      const informer = startStreamed();
      await watchesOpened(1);
      stream.push('ADDED', pod('a', '3')).push('BOOKMARK', endBookmark('7'));
      await informer.waitForSync(abort.signal);
      stream.push('MODIFIED', pod('a', '9'));
      await settle();
      stream.fail();
      await settle();
      await advance(100);
      expect(fake.sent()).toEqual([INITIAL, watchOf('9')]);
      expect(relists).toBe(1);
    });

    it('starts a broken initial state over with a WatchList', async () => {
      const stream = new WatchStream();
      fake.onWatch(PODS, stream, new WatchStream());
      startStreamed();
      await watchesOpened(1);
      stream.push('ADDED', pod('a', '3'));
      await settle();
      stream.fail();
      await settle();
      await advance(100);
      expect(fake.sent()).toEqual([INITIAL, INITIAL]);
    });

    it('applies a DELETED during the initial events to that state, not as an event', async () => {
      const stream = new WatchStream();
      fake.onWatch(PODS, stream);
      const informer = startStreamed();
      await watchesOpened(1);
      stream.push('ADDED', pod('a', '3')).push('ADDED', pod('b', '4')).push('DELETED', pod('a', '5'));
      stream.push('BOOKMARK', endBookmark('5'));
      await informer.waitForSync(abort.signal);

      expect(events).toEqual([{ type: 'add', object: cached(pod('b', '4')) }]);
      expect([...informer.store.keys()]).toEqual(['default/b']);
    });

    it.each([
      ['422', () => status(422, 'Invalid', 'sendInitialEvents is forbidden')],
      ['400', () => status(400, 'BadRequest', 'unknown parameter')],
    ])('falls back to list+watch for good when the apiserver refuses its parameters (%s)', async (_, refusal) => {
      const a = pod('a', '3');
      fake.onWatch(PODS, refusal(), new WatchStream());
      fake.onList(PODS, page([a], '5'), page([a], '9'));
      const informer = startStreamed();
      await informer.waitForSync(abort.signal);
      await watchesOpened(1);
      // A later relist (410) lists again rather than asking for the stream once more.
      fake.onWatch(PODS, new WatchStream());
      fake.lastWatch.push('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' });
      await watchesOpened(2);

      expect(fake.sent()).toEqual([
        INITIAL,
        'GET /api/v1/pods?limit=500',
        watchOf('5'),
        'GET /api/v1/pods?limit=500',
        watchOf('9'),
      ]);
      expect(events).toEqual([{ type: 'add', object: cached(a) }]);
      // The refusal is a decision, not a failure.
      expect(informer.state().synced).toBe(true);
      expect(restarts).toEqual(['Gone']);
    });

    it('lists instead when the stream ends without its end bookmark (a server that ignores WatchList)', async () => {
      const ignored = new WatchStream();
      fake.onWatch(PODS, ignored, new WatchStream());
      const a = pod('a', '3');
      fake.onList(PODS, page([a], '5'));
      const informer = startStreamed();
      await watchesOpened(1);
      // A plain watch from "now": events, then the server's timeout, never an end bookmark.
      ignored.push('ADDED', pod('x', '4'));
      ignored.end();
      await informer.waitForSync(abort.signal);
      await watchesOpened(2);

      expect(fake.sent()).toEqual([INITIAL, 'GET /api/v1/pods?limit=500', watchOf('5')]);
      // What the ignored stream sent before its end was never taken for the state.
      expect(events).toEqual([{ type: 'add', object: cached(a) }]);
      expect([...informer.store.keys()]).toEqual(['default/a']);
    });

    it('lists at the first bookmark that is not the end one (a server that ignores WatchList), without waiting for its timeout', async () => {
      const ignored = new WatchStream();
      fake.onWatch(PODS, ignored, new WatchStream());
      const a = pod('a', '3');
      fake.onList(PODS, page([a], '5'));
      const informer = startStreamed();
      await watchesOpened(1);
      ignored.push('ADDED', pod('x', '4')).push('BOOKMARK', { metadata: { resourceVersion: '4' } });
      await informer.waitForSync(abort.signal);
      await watchesOpened(2);

      expect(fake.sent()).toEqual([INITIAL, 'GET /api/v1/pods?limit=500', watchOf('5')]);
      expect(ignored.open).toBe(false);
      expect(events).toEqual([{ type: 'add', object: cached(a) }]);
    });

    it('after 410 Gone streams the state again and reports what vanished as deleted', async () => {
      const first = new WatchStream();
      const second = new WatchStream();
      fake.onWatch(PODS, first, second);
      const informer = startStreamed();
      await watchesOpened(1);
      first.push('ADDED', pod('a', '3')).push('ADDED', pod('b', '4')).push('BOOKMARK', endBookmark('4'));
      await informer.waitForSync(abort.signal);
      first.push('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' });
      await watchesOpened(2);
      second.push('ADDED', pod('b', '4')).push('ADDED', pod('c', '9')).push('BOOKMARK', endBookmark('10'));
      await until(() => informer.state().relists === 2, 'second initial state');

      expect(fake.sent()).toEqual([INITIAL, INITIAL]);
      expect(events).toEqual([
        { type: 'add', object: cached(pod('a', '3')) },
        { type: 'add', object: cached(pod('b', '4')) },
        { type: 'add', object: cached(pod('c', '9')) },
        { type: 'delete', object: cached(pod('a', '3')) },
      ]);
      expect(restarts).toEqual(['Gone']);
      expect(informer.state().resourceVersion).toBe('10');
    });

    it('fails with Timeout when an initial state never ends (the server keeps the stream open), and tries again', async () => {
      const endless = new WatchStream();
      fake.onWatch(PODS, endless, new WatchStream());
      const informer = startStreamed({ watchGraceMs: 60_000 });
      await watchesOpened(1);
      endless.push('ADDED', pod('a', '3'));
      await advance(450_000 + 60_000);
      expect(informer.state()).toMatchObject({
        synced: false,
        error: {
          reason: 'Timeout',
          message: 'Timeout: watch /api/v1/pods: its initial state did not end within 450 s and its grace',
        },
      });
      expect(events).toEqual([]);
      await advance(1_000); // the backoff
      await watchesOpened(2);
      // Still a WatchList: a stream that is cut is no sign the server ignores it.
      expect(fake.sent()).toEqual([INITIAL, INITIAL]);
    });

    it('retries the stream with backoff when the connection breaks during the initial events', async () => {
      const broken = new WatchStream();
      const whole = new WatchStream();
      fake.onWatch(PODS, broken, whole);
      const informer = startStreamed();
      await watchesOpened(1);
      broken.push('ADDED', pod('a', '3'));
      broken.fail();
      await settle();
      expect(fake.watches).toHaveLength(1);
      await advance(1000);
      await watchesOpened(2);
      whole.push('ADDED', pod('b', '4')).push('BOOKMARK', endBookmark('4'));
      await informer.waitForSync(abort.signal);

      // A broken connection says nothing about WatchList support: the stream is asked for again.
      expect(fake.sent()).toEqual([INITIAL, INITIAL]);
      expect(events).toEqual([{ type: 'add', object: cached(pod('b', '4')) }]);
    });
  });

  describe('protobuf', () => {
    const PROTOBUF = 'application/vnd.kubernetes.protobuf;stream=watch';
    const accept = (r: RecordedRequest): string | undefined => r.headers.accept;
    const endBookmark = envelope('v1', 'Pod', msg(1, str(6, '7'), entry(12, 'k8s.io/initial-events-end', 'true')));

    it('asks for protobuf for a built-in kind, and JSON for a custom resource', async () => {
      fake.onWatch(PODS, new WatchStream());
      fake.onWatch('/apis/example.com/v1/widgets', new WatchStream());
      start(PODS_SPEC, { watchList: true });
      start({ apiVersion: 'example.com/v1', kind: 'Widget' }, { watchList: true });
      await watchesOpened(2);
      expect(fake.requests.map((r) => [r.pathname, accept(r)])).toEqual([
        [PODS, `${PROTOBUF}, application/json`],
        ['/apis/example.com/v1/widgets', 'application/json'],
      ]);
    });

    it('caches what a protobuf stream sends as JSON would, and reads JSON for good once a stream cannot be read', async () => {
      const first = new WatchStream(PROTOBUF);
      const second = new WatchStream();
      fake.onWatch(PODS, first, second);
      const informer = start(PODS_SPEC, { watchList: true });
      await watchesOpened(1);
      first.raw(watchFrame('ADDED', envelope('v1', 'Pod', msg(1, str(1, 'a'), str(3, 'default'), str(6, '3')))));
      // A field the generated table does not know: a newer apiserver than the table.
      first.raw(watchFrame('ADDED', envelope('v1', 'Pod', msg(1, str(1, 'b'), str(3, 'default'), str(99, 'new')))));
      await until(() => informer.state().error !== undefined, 'the failure');
      expect(informer.state().error?.message).toContain('field 99 of meta/v1.ObjectMeta is not in the table');
      expect(informer.state().synced).toBe(false);

      await advance(100);
      await watchesOpened(2);
      expect(accept(second.request!)).toBe('application/json');
      second.push('ADDED', pod('a', '3')).push('ADDED', pod('b', '4'));
      second.push('BOOKMARK', {
        metadata: { resourceVersion: '7', annotations: { 'k8s.io/initial-events-end': 'true' } },
      });
      await informer.waitForSync(abort.signal);
      expect([...informer.store.keys()]).toEqual(['default/a', 'default/b']);
    });

    it('syncs from a protobuf WatchList stream', async () => {
      const stream = new WatchStream(PROTOBUF);
      fake.onWatch(PODS, stream);
      const informer = start(PODS_SPEC, { watchList: true });
      await watchesOpened(1);
      stream.raw(watchFrame('ADDED', envelope('v1', 'Pod', msg(1, str(1, 'a'), str(3, 'default'), str(6, '3')))));
      stream.raw(watchFrame('BOOKMARK', endBookmark));
      await informer.waitForSync(abort.signal);
      expect(events).toEqual([
        {
          type: 'add',
          object: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'a', namespace: 'default', resourceVersion: '3' },
            spec: { containers: null },
            status: {},
          },
        },
      ]);
      expect(informer.state()).toMatchObject({ synced: true, resourceVersion: '7' });
    });

    it('keeps managedFields by default, sharing equal field sets, and skips them unread for stripManagedFields', async () => {
      const fields = '{"f:metadata":{"f:labels":{}}}';
      const managed = msg(17, str(1, 'kubectl'), str(2, 'Apply'), msg(7, str(1, fields)));
      const withManaged = (name: string): Buffer =>
        envelope('v1', 'Pod', msg(1, str(1, name), str(3, 'default'), str(6, '3'), managed));
      const seen: unknown[] = [];
      const own = (o: KubeObject): KubeObject => (seen.push(o.metadata?.managedFields), o);
      const expected = [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': {} } } }];
      const kept: (KubeObject | undefined)[] = [];
      for (const [i, transform] of [undefined, stripManagedFields, own].entries()) {
        const stream = new WatchStream(PROTOBUF);
        fake.onWatch(PODS, stream);
        const informer = start(PODS_SPEC, { watchList: true, transform });
        await watchesOpened(i + 1);
        stream
          .raw(watchFrame('ADDED', withManaged('a')))
          .raw(watchFrame('ADDED', withManaged('b')))
          .raw(watchFrame('BOOKMARK', endBookmark));
        await informer.waitForSync(abort.signal);
        const a = informer.store.get('default/a');
        expect(a?.metadata?.managedFields).toEqual(transform === stripManagedFields ? undefined : expected);
        kept.push(a, informer.store.get('default/b'));
      }
      // By default the two pods' field sets are one frozen value.
      const fieldsOf = (o: KubeObject | undefined): unknown =>
        (o?.metadata?.managedFields?.[0] as { fieldsV1?: unknown } | undefined)?.fieldsV1;
      expect(fieldsOf(kept[0])).toBe(fieldsOf(kept[1]));
      expect(Object.isFrozen(fieldsOf(kept[0]))).toBe(true);
      // The decoder skipped them for stripManagedFields only: a transform of its own got them, as
      // trees of its own that it may change.
      expect(seen).toEqual([expected, expected]);
      const seenFields = seen.map((m) => (m as { fieldsV1: unknown }[])[0]!.fieldsV1);
      expect(seenFields[0]).not.toBe(seenFields[1]);
      expect(Object.isFrozen(seenFields[0])).toBe(false);
    });

    it('shares the field sets of objects read as JSON too, whatever else managedFields holds', async () => {
      const managedFields = (): unknown[] => [
        { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
        'not an entry',
        null,
      ];
      const odd = { managedFields: 'not a list' };
      fake.onWatch(PODS, new WatchStream());
      const answered = page(
        [
          { metadata: { name: 'a', namespace: 'default', resourceVersion: '1', managedFields: managedFields() } },
          { metadata: { name: 'b', namespace: 'default', resourceVersion: '2', managedFields: managedFields() } },
          { metadata: { name: 'c', namespace: 'default', resourceVersion: '3', ...odd } },
        ],
        '5',
      );
      fake.onList(PODS, answered);
      const informer = start(PODS_SPEC, { protobuf: false });
      await informer.waitForSync(abort.signal);
      const fieldsOf = (key: string): unknown =>
        (informer.store.get(key)?.metadata?.managedFields?.[0] as { fieldsV1?: unknown }).fieldsV1;
      expect(fieldsOf('default/a')).toEqual({ 'f:spec': { 'f:replicas': {} } });
      expect(fieldsOf('default/a')).toBe(fieldsOf('default/b'));
      expect(Object.isFrozen(fieldsOf('default/a'))).toBe(true);
      expect(informer.store.get('default/a')?.metadata?.managedFields?.slice(1)).toEqual(['not an entry', null]);
      expect(informer.store.get('default/c')?.metadata?.managedFields).toBe('not a list');
    });
  });

  describe('failures', () => {
    it('waits what Retry-After asks on 429 when it is longer than the backoff', async () => {
      fake.onList(PODS, status(429, 'TooManyRequests', 'slow down', { 'retry-after': '7' }), page([], '10'));
      fake.onWatch(PODS, new WatchStream());
      const informer = start();
      await until(() => fake.requests.length === 1);
      await settle();
      expect(informer.state().error).toEqual({
        reason: 'TooManyRequests',
        message: 'TooManyRequests: GET /api/v1/pods: 429 slow down',
        since: new Date(T0),
      });
      expect(restarts).toEqual(['TooManyRequests']);

      await advance(6_999);
      expect(fake.requests.length).toBe(1);
      await advance(1);
      await watchesOpened(1);
      expect(fake.requests.filter(isList).map((r) => r.at - T0)).toEqual([0, 7_000]);
      expect(informer.state()).toEqual({
        synced: true,
        watching: true,
        relists: 1,
        watchRestarts: 1,
        resourceVersion: '10',
      });
    });

    it('waits at least 5 s after a response over its size limit, then its backoff when that is longer', async () => {
      // A content-length over the client's limit (32 MiB): refused before a byte is read.
      const tooLarge = json(200, { items: [] }, { 'content-length': String(64 * 2 ** 20) });
      fake.onList(PODS, tooLarge, tooLarge, page([], '10'));
      fake.onWatch(PODS, new WatchStream());
      const informer = start(PODS_SPEC, { backoff: { baseMs: 4_000, maxMs: 30_000 } });
      await until(() => fake.requests.length === 1);
      await settle();
      expect(informer.state().error).toMatchObject({ reason: 'ResponseTooLarge' });
      // The floor (5 s) over the first backoff step (4 s); then the second step (8 s) over the floor.
      await advance(13_000);
      await watchesOpened(1);
      expect(fake.requests.filter(isList).map((r) => r.at - T0)).toEqual([0, 5_000, 13_000]);
    });

    it('waits the longer of Retry-After and its backoff', async () => {
      const slowDown = status(429, 'TooManyRequests', 'slow down', { 'retry-after': '3' });
      fake.onList(PODS, slowDown, slowDown, slowDown, page([], '10'));
      fake.onWatch(PODS, new WatchStream());
      start(PODS_SPEC, { backoff: { baseMs: 1_000, maxMs: 8_000 } });
      await until(() => fake.requests.length === 1);
      // Backoff 1 s, 2 s, 4 s against 3 s asked: 3 s, 3 s, then 4 s.
      for (const delay of [3_000, 3_000, 4_000]) {
        await advance(delay - 1);
        const before = fake.sent(isList).length;
        await advance(1);
        expect(fake.sent(isList).length).toBe(before + 1);
      }
      expect(fake.requests.filter(isList).map((r) => r.at - T0)).toEqual([0, 3_000, 6_000, 10_000]);
    });

    it('caps Retry-After at 600 s and ignores one that is not whole seconds', async () => {
      fake.onList(
        PODS,
        status(429, 'TooManyRequests', 'slow down', { 'retry-after': '86400' }),
        status(429, 'TooManyRequests', 'slow down', { 'retry-after': '0.5' }),
        page([], '10'),
      );
      fake.onWatch(PODS, new WatchStream());
      start();
      await until(() => fake.requests.length === 1);
      await advance(600_000);
      await advance(200);
      await watchesOpened(1);
      expect(fake.requests.filter(isList).map((r) => r.at - T0)).toEqual([0, 600_000, 600_200]);
    });

    it('asks discovery when the guessed plural 404s, then lists the served resource at once', async () => {
      const served = '/apis/example.com/v1/namespaces/sea/octopi';
      fake.on(
        'GET',
        '/apis/example.com/v1',
        json(200, {
          resources: [
            { name: 'octopi/status', kind: 'Octopus', namespaced: true },
            { name: 'octopi', kind: 'Octopus', namespaced: true },
          ],
        }),
      );
      fake.onList(served, page([{ metadata: { name: 'paul', namespace: 'sea' } }], '3'));
      fake.onWatch(served, new WatchStream());
      const informer = start({ apiVersion: 'example.com/v1', kind: 'Octopus', namespace: 'sea' });
      const states: InformerState[] = [];
      informer.onState(() => states.push(informer.state()));
      await watchesOpened(1);

      expect(fake.sent()).toEqual([
        'GET /apis/example.com/v1/namespaces/sea/octopuses?limit=500',
        'GET /apis/example.com/v1',
        `GET ${served}?limit=500`,
        `GET ${served}?watch=1&allowWatchBookmarks=true&resourceVersion=3&timeoutSeconds=450`,
      ]);
      expect(Date.now()).toBe(T0);
      expect(informer.resourceInfo).toEqual({
        apiVersion: 'example.com/v1',
        kind: 'Octopus',
        plural: 'octopi',
        namespaced: true,
      });
      expect(states.map((s) => s.error)).toEqual([undefined]);
      expect(restarts).toEqual([]);
    });

    it.each([
      [
        'serves the group but not the kind',
        json(200, { resources: [{ name: 'squids', kind: 'Squid', namespaced: true }] }),
        'cluster test serves example.com/v1 but not kind Octopus',
      ],
      [
        'names it with something that is not a resource name (a path, a query, a line break)',
        json(200, {
          resources: [
            { name: 'octopi?x=1', kind: 'Octopus' },
            { name: 'octo\npi', kind: 'Octopus' },
            { name: 'x'.repeat(64), kind: 'Octopus' },
            { name: 'Octopi', kind: 'Octopus' },
          ],
        }),
        'cluster test serves example.com/v1 but not kind Octopus',
      ],
      [
        'does not serve the group',
        status(404, 'NotFound', 'the server could not find the requested resource'),
        'cluster test does not serve example.com/v1 (no such API group/version)',
      ],
    ])('reports KindNotServed when discovery %s, and asks again after the backoff', async (_, discovery, message) => {
      fake.on('GET', '/apis/example.com/v1', discovery);
      const informer = start({ apiVersion: 'example.com/v1', kind: 'Octopus' });
      await until(() => fake.requests.length === 2);
      await settle();

      expect(informer.state()).toMatchObject({
        synced: false,
        error: { reason: 'KindNotServed', message: `KindNotServed: ${message}`, since: new Date(T0) },
      });
      expect(restarts).toEqual(['KindNotServed']);
      await advance(99);
      expect(fake.requests.length).toBe(2);
      await advance(1);
      await until(() => fake.requests.length === 4);
      expect(fake.sent()).toEqual([
        'GET /apis/example.com/v1/octopuses?limit=500',
        'GET /apis/example.com/v1',
        'GET /apis/example.com/v1/octopuses?limit=500',
        'GET /apis/example.com/v1',
      ]);
    });
  });

  describe('state', () => {
    it('tells onState listeners of the first sync, of a new failure and of the recovery, once each', async () => {
      const broken = new WatchStream();
      fake.onList(
        PODS,
        status(503, 'ServiceUnavailable', 'down'),
        status(503, 'ServiceUnavailable', 'down'),
        page([], '10'),
      );
      fake.onWatch(PODS, broken, new WatchStream());
      const informer = new Informer(fake.client(), PODS_SPEC, {
        backoff: { baseMs: 100, maxMs: 1000 },
        watchList: false,
      });
      const seen: Pick<InformerState, 'synced' | 'error'>[] = [];
      informer.onState(() => seen.push({ synced: informer.state().synced, error: informer.state().error }));
      void informer.start(abort.signal);

      await until(() => seen.length === 1);
      await advance(100); // the same failure again: no news
      expect(seen.length).toBe(1);
      await advance(200); // listed: synced, and the failure is over, in one notification
      await watchesOpened(1);
      broken.fail();
      await settle();
      await advance(100); // the next watch opens: recovered
      await watchesOpened(2);

      const down = { reason: 'ServerError', message: 'ServerError: GET /api/v1/pods: 503 down', since: new Date(T0) };
      const broke = {
        reason: 'Unreachable',
        message: 'Unreachable: other side closed (UND_ERR_SOCKET)',
        since: new Date(T0 + 300),
      };
      expect(seen).toEqual([
        { synced: false, error: down },
        { synced: true, error: undefined },
        { synced: true, error: broke },
        { synced: true, error: undefined },
      ]);
    });

    it('waitForSync resolves once the first list is stored', async () => {
      let answer!: () => void;
      fake.onList(PODS, () => new Promise((resolve) => (answer = () => resolve(page([pod('a', '1')], '10')))));
      fake.onWatch(PODS, new WatchStream());
      const informer = start();
      let synced = false;
      void informer.waitForSync(abort.signal).then(() => (synced = true));
      await until(() => fake.requests.length === 1);
      await settle();
      expect(synced).toBe(false);

      answer();
      await until(() => synced, 'sync');
      expect(informer.store.size).toBe(1);
      await expect(informer.waitForSync(new AbortController().signal)).resolves.toBeUndefined();
    });

    it('waitForSync rejects with the reason when its signal aborts first', async () => {
      fake.onList(PODS, status(503, 'ServiceUnavailable', 'down'));
      const informer = start();
      const waiting = new AbortController();
      const sync = informer.waitForSync(waiting.signal);
      await settle();
      waiting.abort(new Error('gave up'));
      await expect(sync).rejects.toThrow('gave up');
      const already = new AbortController();
      already.abort(new Error('too late'));
      await expect(informer.waitForSync(already.signal)).rejects.toThrow('too late');
    });
  });
});
