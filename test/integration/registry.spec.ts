import { getEventListeners } from 'node:events';
import { Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { INestApplicationContext } from '@nestjs/common';
import type { ClusterClient } from '../../src/client/cluster-client.js';
import { MANAGE_CLIENT, CLUSTER_NAME } from '../../src/runtime/tokens.js';
import { ClusterRegistryModule } from '../../src/module/cluster-registry.module.js';
import { Reconciler } from '../../src/reconcile/reconciler.decorator.js';
import type { Reconcile, ReconcileRequest, ReconcileContext } from '../../src/reconcile/types.js';
import {
  ClusterAlreadyRunningError,
  ClusterNameReservedError,
  ClusterNotRunningError,
  ClusterSpawnError,
  ClusterSyncTimeoutError,
} from '../../src/registry/errors.js';
import { RemoteClusterRegistry } from '../../src/registry/remote-cluster.registry.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { kubeConfigFor } from '../support/kubeconfig.js';
import { eventually } from '../support/poll.js';
import { sleep } from '../../src/util/abort.js';
import { PodRecorder, RECORDER, Recorder, testPod } from '../support/recorder.js';
import { openSocketsTo, TcpProxy } from '../support/tcp-proxy.js';
import { timerTracker } from '../support/timers.js';

const clusters = testClusters();
const [remote1, remote2] = clusters.remotes as [(typeof clusters.remotes)[0], (typeof clusters.remotes)[0]];
const ns = uniqueName('registry');

/** A remote reconciler that mirrors labelled ConfigMaps into the manage cluster through MANAGE_CLIENT. */
@Reconciler({ apiVersion: 'v1', kind: 'ConfigMap', labelSelector: 'clusterregistry-test=mirror' })
class MirrorToManage implements Reconcile {
  constructor(
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    @Inject(CLUSTER_NAME) private readonly cluster: string,
  ) {}

  reconcilerOptions() {
    return { namespace: ns };
  }

  async reconcile(req: ReconcileRequest, ctx: ReconcileContext): Promise<void> {
    const source = ctx.cache.get(req.namespace, req.name);
    if (!source) return;
    await this.manage.api(CoreV1Api).createNamespacedConfigMap({
      namespace: req.namespace!,
      body: { metadata: { name: `${this.cluster}-${req.name}` }, data: { from: this.cluster } },
    });
  }
}

const recorder = new Recorder(ns);
let app: INestApplicationContext;
let registry: RemoteClusterRegistry;

function port(server: string): number {
  return Number(new URL(server).port);
}

beforeAll(async () => {
  for (const c of clusters.all) {
    await c
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: ns } } });
  }
  @Module({
    imports: [
      ClusterRegistryModule.forRoot({
        manageKubeConfig: clusters.manage.kubeConfig(),
        remote: {
          reconcilers: [PodRecorder, MirrorToManage],
          providers: [{ provide: RECORDER, useValue: recorder }],
        },
        stopGraceMs: 1_000,
        // Short backoffs so reconnect tests finish quickly.
        informer: { backoff: { baseMs: 100, maxMs: 1_000 } },
      }),
    ],
  })
  class RootModule {}
  app = await NestFactory.createApplicationContext(RootModule, { logger: ['error'] });
  registry = app.get(RemoteClusterRegistry);
});

afterAll(async () => {
  await app?.close();
});

/** The two remote runtimes most cases use, spawned if an earlier case did not (any case can run alone). */
async function running(): Promise<void> {
  for (const c of [remote1, remote2]) {
    if (!registry.has(c.name)) await registry.spawn(c.name, c.kubeConfig());
    await registry.waitForSync(c.name, { timeoutMs: 20_000 });
  }
}

describe('RemoteClusterRegistry against real clusters', () => {
  it('spawns two remote clusters in parallel and reconciles their pods with the right cluster name', async () => {
    await Promise.all([
      registry.spawn(remote1.name, remote1.kubeConfig()),
      registry.spawn(remote2.name, remote2.kubeConfig()),
    ]);
    await Promise.all([
      registry.waitForSync(remote1.name, { timeoutMs: 20_000 }),
      registry.waitForSync(remote2.name, { timeoutMs: 20_000 }),
    ]);
    expect(registry.list().map((s) => [s.name, s.phase])).toEqual([
      [remote1.name, 'synced'],
      [remote2.name, 'synced'],
    ]);
    for (const c of [remote1, remote2]) {
      await c
        .kubeConfig()
        .makeApiClient(CoreV1Api)
        .createNamespacedPod({ namespace: ns, body: testPod('p1') });
    }
    const seen1 = await eventually('remote-1 pod reconciled', () => recorder.find(remote1.name, 'p1', true));
    const seen2 = await eventually('remote-2 pod reconciled', () => recorder.find(remote2.name, 'p1', true));
    expect(seen1.request).toEqual({ cluster: remote1.name, namespace: ns, name: 'p1' });
    expect(seen1.injectedCluster).toBe(remote1.name);
    expect(seen2.injectedCluster).toBe(remote2.name);
    // The same class, one instance per cluster context.
    expect(seen1.instance).not.toBe(seen2.instance);
  });

  it('lets a remote reconciler write to the manage cluster through MANAGE_CLIENT', async () => {
    await running();
    await remote1
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'cm1', labels: { 'clusterregistry-test': 'mirror' } }, data: { a: '1' } },
      });
    const manage = clusters.manage.kubeConfig().makeApiClient(CoreV1Api);
    const mirrored = await eventually('mirror in manage cluster', () =>
      manage.readNamespacedConfigMap({ namespace: ns, name: `${remote1.name}-cm1` }),
    );
    expect(mirrored.data).toEqual({ from: remote1.name });
  });

  it('creates an object in a remote cluster with withClient (the seed hello-world)', async () => {
    await running();
    const created = await registry.withClient(remote2.name, (client) =>
      client.api(CoreV1Api).createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'hello-world', labels: { 'clusterregistry-test': 'yes' } },
          spec: {
            containers: [
              {
                name: 'hello-world',
                image: 'docker/whalesay',
                imagePullPolicy: 'IfNotPresent',
                command: ['cowsay', 'Hello World'],
              },
            ],
          },
        },
      }),
    );
    expect(created.metadata?.uid).toBeTruthy();
    const direct = await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .readNamespacedPod({ namespace: ns, name: 'hello-world' });
    expect(direct.metadata?.uid).toBe(created.metadata?.uid);
    await eventually('hello-world reconciled', () => recorder.find(remote2.name, 'hello-world', true));
  });

  it('raises typed errors that name the cluster', async () => {
    await running();
    const again = registry.spawn(remote1.name, remote1.kubeConfig());
    await expect(again).rejects.toBeInstanceOf(ClusterAlreadyRunningError);
    await expect(again).rejects.toMatchObject({ cluster: remote1.name });
    await expect(registry.stop('no-such-cluster')).rejects.toBeInstanceOf(ClusterNotRunningError);
    await expect(registry.withClient('no-such-cluster', () => 1)).rejects.toMatchObject({ cluster: 'no-such-cluster' });
    // The manage cluster's own runtime has this name in logs and metrics.
    await expect(registry.spawn('manage', remote1.kubeConfig())).rejects.toBeInstanceOf(ClusterNameReservedError);
    expect(registry.has('manage')).toBe(false);
  });

  it('gives exactly one runtime for two concurrent spawns of one name', async () => {
    await running();
    const results = await Promise.allSettled([
      registry.spawn('twin', remote2.kubeConfig()),
      registry.spawn('twin', remote2.kubeConfig()),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected?.reason).toBeInstanceOf(ClusterAlreadyRunningError);
    expect(registry.names().filter((n) => n === 'twin')).toHaveLength(1);
    await registry.stop('twin');
    expect(registry.has('twin')).toBe(false);
  });

  it('never deadlocks when a withClient callback calls the registry', async () => {
    await running();
    const result = await registry.withClient(remote1.name, async () => {
      const inner = await registry.withClient(remote2.name, (c) => c.name);
      await registry.spawn('nested', remote2.kubeConfig());
      await registry.stop('nested');
      return `${inner}:${registry.list().length}`;
    });
    expect(result).toBe(`${remote2.name}:2`);
  });

  it('retries a reconciler that throws, with backoff, until it succeeds', async () => {
    await running();
    let calls = 0;
    recorder.behaviour.set('flaky', () => {
      calls++;
      if (calls < 3) throw new Error('transient failure');
    });
    await remote1
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: ns, body: testPod('flaky') });
    await eventually('three attempts', () => (calls >= 3 ? calls : undefined));
    const attempts = recorder.seen.filter((s) => s.request.cluster === remote1.name && s.request.name === 'flaky');
    // Retried as the engine counted the failures (the exact backoff delays are unit-tested on a
    // fake clock: test/unit/manager/controller.spec.ts); wall-clock gaps would be at the mercy of load.
    expect(attempts.map((s) => s.attempt)).toEqual([0, 1, 2]);
  });

  it('aborts a reconcile that hangs past its timeout and retries it, while other keys go on', async () => {
    await running();
    let firstSignal: AbortSignal | undefined;
    recorder.behaviour.set('hangs', (ctx) => {
      if (firstSignal) return;
      firstSignal = ctx.signal;
      return new Promise(() => undefined); // never settles
    });
    const core = remote1.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({ namespace: ns, body: testPod('hangs') });
    await core.createNamespacedPod({ namespace: ns, body: testPod('meanwhile') });
    await eventually('other key reconciled while one hangs', () => recorder.find(remote1.name, 'meanwhile', true));
    await eventually(
      'hung reconcile retried',
      () => (recorder.count(remote1.name, 'hangs') >= 2 ? true : undefined),
      10_000,
    );
    expect(firstSignal?.aborted).toBe(true);
  });

  it('requeues after the delay a reconciler asks for', async () => {
    await running();
    let calls = 0;
    recorder.behaviour.set('again', () => (++calls === 1 ? { requeueAfterMs: 300 } : undefined));
    await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: ns, body: testPod('again') });
    await eventually('requeued', () => (calls >= 2 ? true : undefined));
    const [first, second] = recorder.seen.filter(
      (s) => s.request.cluster === remote2.name && s.request.name === 'again',
    );
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(290);
  });

  it('reconnects and catches up after an apiserver restart, with no manual step', async () => {
    await running();
    await remote2.restartApiserver();
    await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: ns, body: testPod('after-restart') });
    await eventually(
      'pod created after restart reconciled',
      () => recorder.find(remote2.name, 'after-restart', true),
      30_000,
    );
    await eventually(
      'synced again',
      () => (registry.status(remote2.name)?.phase === 'synced' ? true : undefined),
      30_000,
    );
  });

  it('relists after an etcd compaction and reconciles an object deleted meanwhile as gone', async () => {
    await running();
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: port(remote1.info.server) });
    try {
      await registry.spawn('via-proxy', await kubeConfigFor(remote1, { server: proxy.url }));
      await registry.waitForSync('via-proxy', { timeoutMs: 20_000 });
      const core = remote1.kubeConfig().makeApiClient(CoreV1Api);
      await core.createNamespacedPod({ namespace: ns, body: testPod('doomed') });
      await eventually('doomed seen', () => recorder.find('via-proxy', 'doomed', true));
      const relistsBefore = registry.status('via-proxy')!.watches.find((w) => w.kind === 'Pod')!.relists;

      // Cut the runtime off, delete the pod behind its back, compact etcd and restart the
      // apiserver so its watch cache no longer covers the runtime's resourceVersion.
      proxy.freeze();
      await core.deleteNamespacedPod({ namespace: ns, name: 'doomed', gracePeriodSeconds: 0 });
      await remote1.compactEtcd();
      await remote1.restartApiserver();
      proxy.thaw();

      await eventually('doomed reconciled as gone', () => recorder.find('via-proxy', 'doomed', false), 30_000);
      const pod = registry.status('via-proxy')!.watches.find((w) => w.kind === 'Pod')!;
      expect(pod.relists).toBeGreaterThan(relistsBefore);
    } finally {
      if (registry.has('via-proxy')) await registry.stop('via-proxy');
      await proxy.close();
    }
  });

  it('shows Forbidden as the cause when credentials may not list the watched kind, without touching others', async () => {
    await running();
    await registry.spawn('limited', await kubeConfigFor(remote2, { user: 'nobody' }));
    const status = await eventually('degraded', () => {
      const s = registry.status('limited');
      return s?.phase === 'degraded' ? s : undefined;
    });
    expect(status.cause?.reason).toBe('Forbidden');
    expect(status.cause?.message).toMatch(/User "nobody" cannot (list|watch) resource "pods"/);
    // The other clusters keep working.
    await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: ns, body: testPod('while-limited') });
    await eventually('still reconciling', () => recorder.find(remote2.name, 'while-limited', true));
    await registry.stop('limited');
  });

  it('keeps an unreachable cluster registered as degraded and bounds waits and stops', async () => {
    const kc = await kubeConfigFor(remote1, { server: 'https://127.0.0.1:1' });
    await registry.spawn('dead', kc);
    const status = await eventually('degraded', () => {
      const s = registry.status('dead');
      return s?.phase === 'degraded' ? s : undefined;
    });
    expect(status.cause?.reason).toBe('Unreachable');
    await expect(registry.waitForSync('dead', { timeoutMs: 300 })).rejects.toBeInstanceOf(ClusterSyncTimeoutError);
    // A stop never waits on the dead cluster: it ends within its bound (a timeout would reject).
    await expect(registry.stop('dead', { timeoutMs: 10_000 })).resolves.toBeUndefined();
    expect(registry.has('dead')).toBe(false);
  });

  it('rejects a kubeconfig without a cluster with a clear error and leaves nothing behind', async () => {
    const broken = new KubeConfig();
    broken.loadFromOptions({ clusters: [], users: [], contexts: [], currentContext: '' });
    const spawning = registry.spawn('broken', broken);
    await expect(spawning).rejects.toBeInstanceOf(ClusterSpawnError);
    await expect(spawning).rejects.toThrow(/cluster broken failed to start: current-context: is not set/);
    expect(registry.has('broken')).toBe(false);
  });

  it('runs its periodic work as named intervals of its context and leaves no interval, timer or listener behind', async () => {
    const name = uniqueName('sched');
    const tracker = timerTracker();
    const processListeners = (): number =>
      (['exit', 'SIGTERM', 'SIGINT', 'unhandledRejection', 'uncaughtException'] as const).reduce(
        (n, e) => n + process.listenerCount(e),
        0,
      );
    const manageAbortListeners = (): number =>
      getEventListeners(app.get<ClusterClient>(MANAGE_CLIENT).signal, 'abort').length;
    // Every manage request in flight holds one abort listener (the manage runtime's access probe
    // runs every 15 s), so the idle count is the least of a few samples and the end is polled.
    const idleManageListeners = async (): Promise<number> => {
      let least = Infinity;
      for (let i = 0; i < 5; i++) {
        least = Math.min(least, manageAbortListeners());
        await sleep(20);
      }
      return least;
    };
    const listenersBefore = [processListeners(), await idleManageListeners()];
    tracker.begin();
    try {
      await registry.spawn(name, remote2.kubeConfig());
      await registry.waitForSync(name, { timeoutMs: 20_000 });
      const status = registry.status(name)!;
      expect(status.intervals.sort()).toEqual(
        [`clusterregistry/${name}/probe`, `clusterregistry/${name}/resync/PodRecorder`].sort(),
      );
      await registry.stop(name);
    } finally {
      tracker.end();
    }
    expect(registry.status(name)).toBeUndefined();
    // Timers created by the runtime's life are gone (destroy hooks arrive asynchronously); on
    // failure the list says where each one left was made. Not counted: undici's one timer that
    // ticks every undici timeout of the process. Once it has fired, the next timeout of any client
    // (the root's manage client too) re-arms it with refresh(), which Node counts as a new Timeout,
    // and it then lives while any client of the process has a timeout pending.
    const undiciTick = (madeAt: string): boolean => madeAt.includes('undici/lib/util/timers.js');
    await tracker.settleTo(0, 10_000, undiciTick);
    expect(tracker.describe(undiciTick)).toEqual([]);
    const listenersAfter = await eventually(
      'the listeners back to their count before',
      async () => {
        const now = [processListeners(), await idleManageListeners()];
        return now[0] === listenersBefore[0] && now[1] === listenersBefore[1] ? now : undefined;
      },
      10_000,
    ).catch(async () => [processListeners(), await idleManageListeners()]);
    expect(listenersAfter).toEqual(listenersBefore);
    tracker.stop();
  });

  it('stops a cluster: no socket to its apiserver stays open and no reconcile runs for it', async () => {
    await running();
    expect(await openSocketsTo(port(remote1.info.server))).toBeGreaterThan(0);
    await registry.stop(remote1.name);
    expect(registry.has(remote1.name)).toBe(false);
    await eventually(
      'sockets closed',
      async () => ((await openSocketsTo(port(remote1.info.server))) === 0 ? true : undefined),
      5_000,
    );
    const before = recorder.count(remote1.name);
    await remote1
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: ns, body: testPod('after-stop') });
    await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: ns, body: testPod('after-stop') });
    // The running cluster sees its pod; by then the stopped one would have seen its own.
    await eventually('running cluster reconciles', () => recorder.find(remote2.name, 'after-stop', true));
    expect(recorder.count(remote1.name)).toBe(before);
    await expect(registry.withClient(remote1.name, () => 1)).rejects.toBeInstanceOf(ClusterNotRunningError);
  });
});
