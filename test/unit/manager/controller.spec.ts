import { jest } from '@jest/globals';
import { CoreV1Api } from '@kubernetes/client-node';
import { Logger } from '@nestjs/common';
import { Informer } from '../../../src/cache/informer.js';
import type { KubeObject } from '../../../src/cache/types.js';
import { KubeApiError } from '../../../src/client/errors.js';
import { Controller, type ControllerHealth } from '../../../src/manager/controller.js';
import type { EngineMetrics, ReconcileOutcome } from '../../../src/manager/engine-metrics.js';
import { TimerScheduler } from '../../../src/manager/scheduler.js';
import { FairLimiter } from '../../../src/queue/fair-limiter.js';
import type {
  ReconcileContext,
  ReconcileRequest,
  ReconcileResult,
  ReconcilerOptions,
} from '../../../src/reconcile/types.js';
import { advance, T0, useFakeClock } from '../../support/clock.js';
import {
  FakeTransport,
  HANG,
  page,
  settle,
  until,
  WatchStream,
  type RecordedRequest,
} from '../../../src/testing/fake-transport.js';
import { quietNestLogs } from '../../support/logger.js';

const CONFIGMAPS = '/api/v1/configmaps';
const SECRETS = '/api/v1/secrets';

const cm = (name: string, rv = '1', labels?: Record<string, string>): KubeObject => ({
  metadata: { name, namespace: 'default', resourceVersion: rv, labels },
});

interface Call {
  key: string;
  /** Fake-clock milliseconds since T0. */
  at: number;
  attempt: number;
  ctx: ReconcileContext;
}

type ReconcileFn = (
  req: ReconcileRequest,
  ctx: ReconcileContext,
  call: Call,
) => Promise<ReconcileResult> | ReconcileResult;

/** One controller over real informers, all on the fake transport and the fake clock. */
class Rig {
  readonly fake = new FakeTransport();
  readonly client = this.fake.client('c1');
  readonly abort = new AbortController();
  readonly scheduler = new TimerScheduler();
  readonly calls: Call[] = [];
  readonly outcomes: ReconcileOutcome[] = [];
  readonly queue = { added: 0, retries: 0 };
  healthChanges = 0;
  readonly primary: Informer;
  readonly secondary: Informer[];
  readonly controller: Controller;

  constructor(
    reconcile: ReconcileFn,
    readonly options: Partial<ReconcilerOptions> = {},
  ) {
    // The list-then-watch path (the WatchList path is tested in informer.spec.ts).
    const informerOptions = { backoff: { baseMs: 100, maxMs: 1000 }, watchList: false };
    this.primary = new Informer(this.client, { apiVersion: 'v1', kind: 'ConfigMap' }, informerOptions);
    this.secondary = (options.watches ?? []).map((w) => new Informer(this.client, w, informerOptions));
    const metrics: EngineMetrics = {
      reconciled: (_controller, _cluster, outcome) => this.outcomes.push(outcome),
      queue: () => ({ added: () => this.queue.added++, retry: () => this.queue.retries++ }),
      informer: () => ({}),
      forgetCluster: () => undefined,
    };
    this.controller = new Controller(
      {
        instance: {
          reconcile: (req, ctx) => {
            const call = { key: `${req.namespace}/${req.name}`, at: Date.now() - T0, attempt: ctx.attempt, ctx };
            this.calls.push(call);
            return reconcile(req, ctx, call);
          },
        },
        options: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          name: 'test',
          backoff: { baseMs: 100, maxMs: 1000 },
          ...options,
        },
      },
      {
        cluster: 'c1',
        client: this.client,
        informer: this.primary,
        secondary: this.secondary,
        limiter: new FairLimiter(8),
        metrics,
        scheduler: this.scheduler,
        onHealthChange: () => this.healthChanges++,
      },
    );
  }

  /** Starts the controller, then the informers (as the ControllerManager does). */
  start(): this {
    this.controller.start();
    for (const informer of [this.primary, ...this.secondary]) void informer.start(this.abort.signal);
    return this;
  }

  keys(): string[] {
    return this.calls.map((c) => c.key);
  }

  /** Watch of the primary kind (the first one served). */
  get watch(): WatchStream {
    return this.fake.watches.find((w) => w.request!.pathname === CONFIGMAPS)!;
  }

  async stop(): Promise<void> {
    await this.controller.stop(1000);
    this.abort.abort();
    await settle();
  }
}

/** A promise with its resolve function, to hold a reconcile until the test lets it go. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

const fail = (message = 'boom'): never => {
  throw new Error(message);
};

describe('Controller', () => {
  let rig: Rig | undefined;

  quietNestLogs();
  beforeEach(() => {
    useFakeClock();
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
  });
  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** A rig whose ConfigMap list holds `objects`, with an open watch. */
  function rigWith(objects: KubeObject[], reconcile: ReconcileFn, options: Partial<ReconcilerOptions> = {}): Rig {
    rig = new Rig(reconcile, options);
    rig.fake.onList(CONFIGMAPS, page(objects, '10'));
    rig.fake.onWatch(CONFIGMAPS, new WatchStream());
    return rig;
  }

  describe('queue', () => {
    it('reconciles a key once however often it is added while queued or processing', async () => {
      const held = gate();
      const r = rigWith([cm('a'), cm('b')], (req) =>
        req.name === 'a' && r.calls.length === 1 ? held.promise : undefined,
      );
      r.start();
      await until(() => r.calls.length === 1 && !!r.watch);

      for (let rv = 2; rv <= 5; rv++)
        r.watch.push('MODIFIED', cm('a', String(rv))).push('MODIFIED', cm('b', String(rv)));
      await settle();
      expect(r.keys()).toEqual(['default/a']);
      held.open();
      await until(() => r.calls.length === 3);
      await advance(60_000);

      // b was waiting; a came back once for all its changes, after b.
      expect(r.keys()).toEqual(['default/a', 'default/b', 'default/a']);
      expect(r.queue.added).toBe(3);
      expect(r.outcomes).toEqual(['success', 'success', 'success']);
    });

    it('retries a failing key after exactly the configured per-key backoff, and starts over after a success', async () => {
      const r = rigWith([cm('a')], (_req, _ctx, call) => (r.calls.length <= 6 || call.at >= 4000 ? fail() : undefined));
      r.start();
      await until(() => r.calls.length === 1);

      // base 100 ms, doubling, capped at 1000 ms (no jitter in the queue)
      for (const delay of [100, 200, 400, 800, 1000, 1000]) {
        const before = r.calls.length;
        await advance(delay - 1);
        expect(r.calls.length).toBe(before);
        await advance(1);
        expect(r.calls.length).toBe(before + 1);
      }
      expect(r.calls.map((c) => [c.at, c.attempt])).toEqual([
        [0, 0],
        [100, 1],
        [300, 2],
        [700, 3],
        [1500, 4],
        [2500, 5],
        [3500, 6],
      ]);
      expect(r.outcomes).toEqual(['error', 'error', 'error', 'error', 'error', 'error', 'success']);
      expect(r.queue.retries).toBe(6);

      // A new failure after the success backs off from the base again.
      await advance(500);
      r.watch.push('MODIFIED', cm('a', '2'));
      await until(() => r.calls.length === 8);
      await advance(99);
      expect(r.calls.length).toBe(8);
      await advance(1);
      expect(r.calls.slice(7).map((c) => [c.at, c.attempt])).toEqual([
        [4000, 0],
        [4100, 1],
      ]);
    });

    it('retries a reconcile the server throttled no sooner than its Retry-After', async () => {
      const throttled = (): never => {
        throw new KubeApiError(429, 'TooManyRequests', 'GET /api/v1/secrets: 429 too many requests', 3);
      };
      const r = rigWith([cm('a')], (_req, ctx) => (ctx.attempt === 0 ? throttled() : undefined));
      r.start();
      await until(() => r.calls.length === 1);
      await advance(2999);
      expect(r.calls.length).toBe(1);
      await advance(1);
      expect(r.calls.map((c) => [c.at, c.attempt])).toEqual([
        [0, 0],
        [3000, 1],
      ]);
      expect(r.outcomes).toEqual(['error', 'success']);
    });

    it('logs the key of a failing object a remote cluster named with a line break quoted, on one line', async () => {
      const warned: string[] = [];
      jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warned.push(String(message)));
      const r = rigWith([cm('a\n{"level":"fatal"}')], () => fail());
      r.start();
      await until(() => r.calls.length === 1);
      await settle();
      expect(warned).toEqual(['"default/a\\n{\\"level\\":\\"fatal\\"}": Error: boom; retry in 100 ms']);
    });

    it('keeps each key on its own backoff', async () => {
      const callsOf = (key: string): number => r.calls.filter((c) => c.key === key).length;
      const r = rigWith([cm('a'), cm('b')], (req) =>
        req.name === 'a' || callsOf('default/b') <= 2 ? fail() : undefined,
      );
      r.start();
      await until(() => r.calls.length === 2);
      await advance(100);
      await advance(200);
      await advance(400);
      // a keeps failing (0, 100, 300, 700); b failed twice (0, 100) and then succeeded at 300.
      expect(r.calls.map((c) => `${c.key}@${c.at}#${c.attempt}`)).toEqual([
        'default/a@0#0',
        'default/b@0#0',
        'default/a@100#1',
        'default/b@100#1',
        'default/a@300#2',
        'default/b@300#2',
        'default/a@700#3',
      ]);
    });

    it('comes back after requeueAfterMs with the failures forgotten', async () => {
      const results: ReconcileResult[] = [undefined, { requeueAfterMs: 5000 }, undefined];
      const r = rigWith([cm('a')], () => (r.calls.length === 1 ? fail() : results[r.calls.length - 1]));
      r.start();
      await until(() => r.calls.length === 1);
      await advance(100); // the failure's backoff
      await advance(4999);
      expect(r.calls.length).toBe(2);
      await advance(1);
      expect(r.calls.map((c) => [c.at, c.attempt])).toEqual([
        [0, 0],
        [100, 1],
        [5100, 0],
      ]);
      expect(r.outcomes).toEqual(['error', 'requeue_after', 'success']);
    });

    it('comes back with backoff on requeue: true, counting attempts', async () => {
      const r = rigWith([cm('a')], () => (r.calls.length <= 2 ? { requeue: true } : undefined));
      r.start();
      await until(() => r.calls.length === 1);
      await advance(100);
      await advance(199);
      expect(r.calls.length).toBe(2);
      await advance(1);
      await advance(60_000);
      expect(r.calls.map((c) => [c.at, c.attempt])).toEqual([
        [0, 0],
        [100, 1],
        [300, 2],
      ]);
      expect(r.outcomes).toEqual(['requeue', 'requeue', 'success']);
    });

    it('requeues every cached key each resyncMs once synced, until stopped', async () => {
      const r = rigWith([cm('a')], () => undefined, { resyncMs: 10_000 });
      r.start();
      await until(() => r.calls.length === 1);
      expect(r.scheduler.names()).toEqual(['clusterregistry/c1/resync/test']);
      await advance(10_000);
      await advance(10_000);
      expect(r.calls.map((c) => c.at)).toEqual([0, 10_000, 20_000]);
      await r.controller.stop(1000);
      expect(r.scheduler.names()).toEqual([]);
    });
  });

  describe('timeout', () => {
    it('aborts ctx.signal at timeoutMs, ends a reconcile that ignores it, and retries with backoff', async () => {
      const r = rigWith([cm('a')], () => (r.calls.length === 1 ? new Promise<void>(() => undefined) : undefined), {
        timeoutMs: 1000,
      });
      r.start();
      await until(() => r.calls.length === 1);
      const first = r.calls[0]!.ctx.signal;

      await advance(999);
      expect(first.aborted).toBe(false);
      expect(r.outcomes).toEqual([]);
      await advance(1);
      expect(first.aborted).toBe(true);
      expect((first.reason as Error).name).toBe('TimeoutError');
      expect(r.outcomes).toEqual(['timeout']);
      expect(r.controller.health()).toEqual<ControllerHealth>({
        name: 'test',
        failing: 1,
        lastError: {
          key: 'default/a',
          reason: 'Timeout',
          message: 'reconcile of default/a exceeded 1000 ms',
          at: new Date(T0 + 1000),
        },
      });

      await advance(99);
      expect(r.calls.length).toBe(1);
      await advance(1);
      expect(r.calls.map((c) => [c.at, c.attempt])).toEqual([
        [0, 0],
        [1100, 1],
      ]);
      expect(r.outcomes).toEqual(['timeout', 'success']);
      expect(r.calls[1]!.ctx.signal.aborted).toBe(false);
    });

    it('times out reconciles started at different times each at its own deadline (one timer for all)', async () => {
      const r = rigWith(
        [cm('a')],
        (_req, ctx) => (ctx.attempt === 0 ? new Promise<void>(() => undefined) : undefined),
        {
          timeoutMs: 1000,
          concurrency: 2,
        },
      );
      r.start();
      await until(() => r.calls.length === 1 && !!r.watch);
      await advance(400);
      r.watch.push('ADDED', cm('b'));
      await until(() => r.calls.length === 2);
      const [a, b] = r.calls;
      expect(b!.at).toBe(400);

      await advance(600);
      expect(r.outcomes).toEqual(['timeout']);
      // Read only now: the signal of a reconcile that already timed out is made aborted.
      expect(a!.ctx.signal.aborted).toBe(true);
      expect((a!.ctx.signal.reason as Error).name).toBe('TimeoutError');
      expect(b!.ctx.signal.aborted).toBe(false);
      await advance(399);
      expect(b!.ctx.signal.aborted).toBe(false);
      await advance(1);
      expect(b!.ctx.signal.aborted).toBe(true);
      // a's retry (backoff 100 ms) succeeded at 1,100 ms, between the two timeouts.
      expect(r.outcomes).toEqual(['timeout', 'success', 'timeout']);
    });

    it('never times out with timeoutMs Infinity', async () => {
      const r = rigWith(
        [cm('a'), cm('b')],
        (req) => (req.name === 'a' ? new Promise<void>(() => undefined) : undefined),
        { timeoutMs: Infinity, concurrency: 2 },
      );
      r.start();
      await until(() => r.calls.length === 2);
      await advance(3_600_000);
      expect(r.calls[0]!.ctx.signal.aborted).toBe(false);
      expect(r.outcomes).toEqual(['success']);
    });

    it('holds its one deadline timer only while a reconcile is in flight', async () => {
      let finish: (() => void) | undefined;
      const r = rigWith([cm('a')], () => new Promise<void>((resolve) => (finish = resolve)), { timeoutMs: 60_000 });
      r.start();
      await until(() => r.calls.length === 1 && !!r.watch);
      const during = jest.getTimerCount();
      finish!();
      await until(() => r.outcomes.length === 1);
      // The deadline timer is gone at once, not at the deadline 60 s later.
      expect(r.outcomes).toEqual(['success']);
      expect(jest.getTimerCount()).toBe(during - 1);
    });

    it('aborts the requests of ctx.client, typed APIs included, when ctx.signal aborts', async () => {
      const errors: unknown[] = [];
      const r = rigWith(
        [cm('a')],
        async (_req, ctx) => {
          const raw = ctx.client
            .request('GET', '/api/v1/namespaces/default/configmaps/a')
            .catch((e: unknown) => errors.push(e));
          const typed = ctx.client
            .api(CoreV1Api)
            .readNamespacedConfigMap({ name: 'a', namespace: 'default' })
            .catch((e: unknown) => errors.push(e));
          await Promise.all([raw, typed]);
        },
        { timeoutMs: 1000 },
      );
      r.fake.on('GET', '/api/v1/namespaces/default/configmaps/a', HANG);
      r.start();
      const isGet = (q: RecordedRequest): boolean => q.pathname === '/api/v1/namespaces/default/configmaps/a';
      await until(() => r.fake.requests.filter(isGet).length === 2, 'both requests');

      await advance(999);
      const sent = r.fake.requests.filter(isGet);
      expect(sent.map((q) => q.signal!.aborted)).toEqual([false, false]);
      await advance(1);
      expect(sent.map((q) => q.signal!.aborted)).toEqual([true, true]);
      await until(() => errors.length === 2, 'both requests to fail');
      expect(errors.map((e) => (e as Error).name)).toEqual(['TimeoutError', 'TimeoutError']);
    });

    it('aborts ctx.signal and the requests of ctx.client on stop()', async () => {
      const r = rigWith([cm('a')], (_req, ctx) => ctx.client.request('GET', '/api/v1/namespaces/default/configmaps/a'));
      r.fake.on('GET', '/api/v1/namespaces/default/configmaps/a', HANG);
      r.start();
      const isGet = (q: RecordedRequest): boolean => q.pathname === '/api/v1/namespaces/default/configmaps/a';
      await until(() => r.fake.requests.some(isGet), 'the reconcile request');
      const request = r.fake.requests.find(isGet)!;

      await r.controller.stop(60_000);
      expect(Date.now()).toBe(T0);
      expect(request.signal!.aborted).toBe(true);
      expect(r.calls[0]!.ctx.signal.aborted).toBe(true);
      expect(r.outcomes).toEqual([]);
      expect(r.controller.health().failing).toBe(0);
    });
  });

  describe('caches before workers', () => {
    it('runs no reconcile until the secondary cache has listed, then sees it filled', async () => {
      const secretsListed = gate<ReturnType<typeof page>>();
      const seen: { secrets: number; object: boolean }[] = [];
      const r = rigWith(
        [cm('a')],
        (req, ctx) => {
          seen.push({
            secrets: ctx.cacheOf('v1', 'Secret')!.list().length,
            object: !!ctx.cache.get(req.namespace, req.name),
          });
        },
        { watches: [{ apiVersion: 'v1', kind: 'Secret', map: () => [] }] },
      );
      r.fake.onList(SECRETS, () => secretsListed.promise);
      r.fake.onWatch(SECRETS, new WatchStream());
      r.start();
      await until(() => r.primary.state().synced);
      await advance(30_000);
      expect(r.calls).toEqual([]);

      secretsListed.open(page([{ metadata: { name: 's', namespace: 'default' } }], '3'));
      await until(() => r.calls.length === 1);
      expect(seen).toEqual([{ secrets: 1, object: true }]);
    });

    it('runs no reconcile until the primary cache has listed', async () => {
      const listed = gate<ReturnType<typeof page>>();
      rig = new Rig(() => undefined, {
        watches: [{ apiVersion: 'v1', kind: 'Secret', map: () => [{ namespace: 'default', name: 'a' }] }],
      });
      const r = rig;
      r.fake.onList(CONFIGMAPS, () => listed.promise);
      r.fake.onList(SECRETS, page([{ metadata: { name: 's', namespace: 'default' } }], '3'));
      r.fake.onWatch(SECRETS, new WatchStream());
      r.fake.onWatch(CONFIGMAPS, new WatchStream());
      r.start();
      await until(() => r.secondary[0]!.state().synced);
      await advance(30_000);
      expect(r.calls).toEqual([]);

      listed.open(page([cm('a')], '10'));
      await until(() => r.calls.length === 1);
      expect(r.keys()).toEqual(['default/a']);
    });

    it('subscribes its sources only once synced, and unsubscribes on stop', async () => {
      const listed = gate<ReturnType<typeof page>>();
      const unsubscribe = jest.fn();
      let enqueue: ((ref: { namespace?: string; name: string }) => void) | undefined;
      const source = jest.fn((fn: (ref: { namespace?: string; name: string }) => void) => {
        enqueue = fn;
        return unsubscribe;
      });
      rig = new Rig(() => undefined, { sources: [source] });
      const r = rig;
      r.fake.onList(CONFIGMAPS, () => listed.promise);
      r.fake.onWatch(CONFIGMAPS, new WatchStream());
      r.start();
      await settle();
      expect(source).not.toHaveBeenCalled();

      listed.open(page([], '10'));
      await until(() => source.mock.calls.length === 1);
      enqueue!({ namespace: 'elsewhere', name: 'z' });
      await until(() => r.calls.length === 1);
      expect(r.keys()).toEqual(['elsewhere/z']);

      await r.controller.stop(1000);
      expect(unsubscribe).toHaveBeenCalledTimes(1);
      expect(source).toHaveBeenCalledTimes(1);
    });

    it('leaves no source or resync behind when stopped in the turn its caches synced', async () => {
      const synced = gate();
      const unsubscribe = jest.fn();
      const source = jest.fn(() => unsubscribe);
      rig = new Rig(() => undefined, { sources: [source], resyncMs: 1000 });
      const r = rig;
      r.fake.onList(CONFIGMAPS, page([], '10'));
      r.fake.onWatch(CONFIGMAPS, new WatchStream());
      jest.spyOn(r.primary, 'waitForSync').mockReturnValue(synced.promise);
      r.start();
      await settle();

      // The cache syncs, and a state listener stops the runtime before the controller resumes.
      synced.open();
      const stopping = r.controller.stop(1000);
      await stopping;
      await settle();
      expect(source).not.toHaveBeenCalled();
      expect(r.scheduler.names()).toEqual([]);
      await advance(5000);
      expect(r.calls).toEqual([]);
    });

    it('maps secondary events to primary keys, the old mapping too on an update', async () => {
      const secret = (owner: string, rv: string): KubeObject => ({
        metadata: { name: 's', namespace: 'default', resourceVersion: rv, labels: { owner } },
      });
      const r = rigWith([cm('a'), cm('b'), cm('c')], () => undefined, {
        watches: [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            map: (obj, primary) => {
              const owner = obj.metadata!.labels!.owner!;
              return primary.get('default', owner) ? [{ namespace: 'default', name: owner }] : [];
            },
          },
        ],
      });
      r.fake.onList(SECRETS, page([], '3'));
      r.fake.onWatch(SECRETS, new WatchStream());
      r.start();
      await until(() => r.calls.length === 3);
      const secrets = r.fake.watches.find((w) => w.request!.pathname === SECRETS)!;

      secrets.push('ADDED', secret('a', '4'));
      await until(() => r.calls.length === 4);
      secrets.push('MODIFIED', secret('b', '5'));
      await until(() => r.calls.length === 6);
      secrets.push('MODIFIED', secret('nobody', '6'));
      secrets.push('DELETED', secret('nobody', '7'));
      await until(() => r.calls.length === 7);
      await advance(60_000);
      // ADDED (owner a): a; MODIFIED (owner a to b): b and a; MODIFIED (b to nobody): b; DELETED (nobody): none.
      expect(r.keys().slice(3)).toEqual(['default/a', 'default/b', 'default/a', 'default/b']);
    });
  });

  describe('health', () => {
    it('counts failing keys, names the last failure, and clears as keys succeed', async () => {
      const r = rigWith([cm('a'), cm('b')], (req) => {
        if (r.calls.length <= 2 && req.name === 'a') throw new KubeApiError(422, 'Invalid', 'spec.x: Invalid value');
        if (r.calls.length <= 2) fail('boom');
      });
      const healthy: ControllerHealth = { name: 'test', failing: 0 };
      expect(r.controller.health()).toEqual(healthy);
      r.start();
      await until(() => r.calls.length === 2);

      expect(r.controller.health()).toEqual({
        name: 'test',
        failing: 2,
        lastError: { key: 'default/b', reason: 'Error', message: 'Error: boom', at: new Date(T0) },
      });
      // Empty to failing, then another reason: two notifications.
      expect(r.healthChanges).toBe(2);

      await advance(100); // both retried and succeed
      expect(r.keys()).toEqual(['default/a', 'default/b', 'default/a', 'default/b']);
      expect(r.controller.health()).toMatchObject({ name: 'test', failing: 0 });
      // Back to no failing key: one more notification (not one per key).
      expect(r.healthChanges).toBe(3);
    });

    // A known defect (see the report): lastError keeps naming a key that has since succeeded while
    // another key still fails, so ReconcilersHealthy cites a key that is fine. Remove `.failing`
    // once health() reports the last failure of a key that is still failing.
    it('names a key that is still failing as the last error', async () => {
      const r = rigWith([cm('a'), cm('b')], (req, _ctx, call) => {
        if (req.name === 'a') fail('a is broken');
        if (call.at === 350) fail('b failed once');
      });
      r.start();
      await until(() => r.calls.length === 2);
      await advance(100);
      await advance(200); // a fails at 0, 100, 300; next at 700
      await advance(50);
      r.watch.push('MODIFIED', cm('b', '2')); // b fails at 350 ...
      await until(() => r.calls.length === 5);
      await advance(100); // ... and succeeds at 450
      expect(r.keys().slice(-2)).toEqual(['default/b', 'default/b']);

      const health = r.controller.health();
      expect(health.failing).toBe(1);
      expect(health.lastError?.key).toBe('default/a');
    });
  });

  describe('stop', () => {
    it('aborts the reconcile in flight, drops queued and delayed work, and ignores later events', async () => {
      const r = rigWith([cm('a'), cm('b'), cm('c'), cm('d')], (req, ctx) =>
        req.name === 'a'
          ? fail()
          : new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
      );
      r.start();
      await until(() => r.calls.length === 2); // a failed (retry due at 100), b is in flight
      const inFlight = r.calls[1]!.ctx.signal;

      await r.controller.stop(1000);
      expect(inFlight.aborted).toBe(true);
      expect((inFlight.reason as Error).message).toBe('controller test on c1 stopped');
      r.watch.push('MODIFIED', cm('e', '2'));
      await advance(60_000);

      expect(r.keys()).toEqual(['default/a', 'default/b']);
      expect(r.outcomes).toEqual(['error']);
      expect(r.queue.retries).toBe(1);
    });

    it('returns without waiting for a reconcile that ignores its signal', async () => {
      const r = rigWith([cm('a')], () => new Promise<void>(() => undefined));
      r.start();
      await until(() => r.calls.length === 1);
      let stopped = false;
      void r.controller.stop(60_000).then(() => (stopped = true));
      await until(() => stopped, 'stop()');
      expect(Date.now()).toBe(T0);
    });
  });
});
