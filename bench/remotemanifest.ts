// RemoteManifests end to end: 1,000 RemoteManifests (one ConfigMap each) fanned out by selector
// to 2 remote clusters, through the ready-made app (AppModule, in process, as `npm start` runs
// it). Measured: from the first create until every RemoteManifest says Applied=True (which needs
// both clusters' status entries for its generation: status mirrored), and from the delete until
// every RemoteManifest is gone and no applied ConfigMap is left in either cluster; both as
// objects/s (2,000 objects: 1,000 per cluster).
// Floor, same run: a bare server-side-apply loop of the same 2,000 ConfigMaps straight to the
// remote apiservers (same field manager kind of request, same parallelism per cluster as the
// app's manage reconciler), then a bare DELETE loop of them.
// Run: npm run bench:remotemanifest
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { AppModule } from '../src/app/app.module.js';
import { loadSettings } from '../src/app/settings.js';
import { Informer } from '../src/cache/informer.js';
import type { ClusterClient } from '../src/client/cluster-client.js';
import { installCrd, loadCrds } from '../src/envtest/crd.js';
import { packageRoot } from '../src/envtest/binaries.js';
import type { LocalCluster } from '../src/envtest/local-cluster.js';
import type { LocalClusters } from '../src/envtest/local-clusters.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  apiserverRequests,
  clientOf,
  createNamespace,
  int,
  kubeConfigOf,
  ms,
  printMachine,
  report,
  requestsPer,
  run,
  sleep,
  withClusters,
} from './support.js';

const MANIFESTS = Number(process.env.BENCH_MANIFESTS ?? 1_000);
const REMOTES = ['remote-1', 'remote-2'];
const OBJECTS = MANIFESTS * REMOTES.length;
/** The manage reconciler's concurrency (REMOTEMANIFEST_CONCURRENCY's default); the floor uses as many lanes per cluster. */
const CONCURRENCY = 8;
const APP_NS = 'bench-rmf';
const TARGET_NS = 'bench-rmf-target';
const FLOOR_NS = 'bench-rmf-floor';
const TARGET = 0.25;
const TIMEOUT_MS = 600_000;
/** The resources whose requests the bench counts on each apiserver. */
const OUR_RESOURCES = /^(remotemanifests|configmaps)$/;

/** CPU seconds so far of this process (the app and the harness) and of every etcd and
 * kube-apiserver: the work done, whatever else the machine is doing. */
function cpu(clusters: LocalClusters): { app: number; servers: number; manage: number } {
  const ticks = (pid: number | undefined): number => {
    if (!pid) return 0;
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  };
  const of = (c: LocalCluster): number => ticks(c.pids.apiserver) + ticks(c.pids.etcd);
  const servers = clusters.clusters.reduce((sum, c) => sum + of(c), 0) / 100;
  const usage = process.cpuUsage();
  return { app: (usage.user + usage.system) / 1e6, servers, manage: of(clusters.get('manage')) / 100 };
}

type Cpu = ReturnType<typeof cpu>;

function cpuSince(clusters: LocalClusters, start: Cpu): Cpu {
  const now = cpu(clusters);
  return { app: now.app - start.app, servers: now.servers - start.servers, manage: now.manage - start.manage };
}

const perObject = (c: Cpu): string => {
  const each = (seconds: number): string => ((seconds * 1000) / OBJECTS).toFixed(2);
  return (
    `${each(c.app)} ms in this process + ${each(c.servers)} ms in etcd and apiservers ` +
    `(${each(c.manage)} of it in the manage cluster's)`
  );
};

const cmName = (i: number): string => `cm-${String(i).padStart(4, '0')}`;
const configMap = (i: number, namespace: string): object => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: cmName(i), namespace },
  data: { index: String(i), payload: 'x'.repeat(64) },
});

/** Runs `count` tasks, `lanes` at a time. */
async function lanes(count: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** The floor: server-side apply of every ConfigMap to both clusters, then delete them all. */
interface Floor {
  apply: number;
  remove: number;
  applyCpu: Cpu;
  removeCpu: Cpu;
}

async function floor(clusters: LocalClusters, remotes: ClusterClient[]): Promise<Floor> {
  const path = (i: number): string => `/api/v1/namespaces/${FLOOR_NS}/configmaps/${cmName(i)}`;
  const c0 = cpu(clusters);
  const t0 = performance.now();
  await Promise.all(
    remotes.map((client) =>
      lanes(MANIFESTS, CONCURRENCY, (i) =>
        client.request('PATCH', path(i), {
          query: { fieldManager: 'bench-floor', force: false },
          body: configMap(i, FLOOR_NS),
          contentType: 'application/apply-patch+yaml',
        }),
      ),
    ),
  );
  const apply = performance.now() - t0;
  const applyCpu = cpuSince(clusters, c0);
  const c1 = cpu(clusters);
  const t1 = performance.now();
  await Promise.all(remotes.map((client) => lanes(MANIFESTS, CONCURRENCY, (i) => client.request('DELETE', path(i)))));
  return { apply, remove: performance.now() - t1, applyCpu, removeCpu: cpuSince(clusters, c1) };
}

/** The faster of two floors, so load on a shared machine does not flatter the figure. */
function best(a: Floor, b: Floor): Floor {
  return {
    apply: Math.min(a.apply, b.apply),
    remove: Math.min(a.remove, b.remove),
    applyCpu: a.apply <= b.apply ? a.applyCpu : b.applyCpu,
    removeCpu: a.remove <= b.remove ? a.removeCpu : b.removeCpu,
  };
}

async function startApp(clusters: LocalClusters): Promise<INestApplicationContext> {
  const settings = {
    ...loadSettings({}),
    probePort: 0,
    metricsPort: 0,
    bindAddress: '127.0.0.1',
    podNamespace: APP_NS,
    secretNamespace: APP_NS,
    leaderElection: false,
    exampleReconcilers: false,
    logLevel: 'warn' as const,
  };
  // An application context: the bench needs the controllers, not the probe endpoints.
  return NestFactory.createApplicationContext(
    AppModule.forRoot({ settings, manageKubeConfig: kubeConfigOf(clusters.get('manage')) }),
    { logger: ['error', 'warn'], abortOnError: false },
  );
}

/** Registers the remotes as a user would: a kubeconfig Secret and a RemoteCluster each. */
async function register(manage: ClusterClient, clusters: LocalClusters): Promise<void> {
  for (const name of REMOTES) {
    await manage.request('POST', `/api/v1/namespaces/${APP_NS}/secrets`, {
      body: { metadata: { name }, stringData: { kubeconfig: clusters.get(name).kubeconfig() } },
    });
    await manage.request('POST', '/apis/clusterregistry.dev/v1alpha1/remoteclusters', {
      body: {
        apiVersion: 'clusterregistry.dev/v1alpha1',
        kind: 'RemoteCluster',
        metadata: { name, labels: { bench: 'rmf' } },
        spec: { kubeConfig: { secretRef: { namespace: APP_NS, name, key: 'kubeconfig' } } },
      },
    });
  }
}

interface ConditionLike {
  type: string;
  status: string;
  observedGeneration?: number;
}

/** Counts RemoteManifests by state from a watch (no polling of 1,000 objects). */
function watchManifests(
  manage: ClusterClient,
  signal: AbortSignal,
): { applied: () => number; present: () => number; informer: Informer } {
  const informer = new Informer(manage, {
    apiVersion: 'clusterregistry.dev/v1alpha1',
    kind: 'RemoteManifest',
    namespace: APP_NS,
  });
  void informer.start(signal);
  const isApplied = (o: { metadata?: { generation?: number }; status?: { conditions?: ConditionLike[] } }): boolean =>
    !!o.status?.conditions?.some(
      (c) => c.type === 'Applied' && c.status === 'True' && c.observedGeneration === o.metadata?.generation,
    );
  return {
    informer,
    applied: () => informer.store.list().filter((o) => isApplied(o as never)).length,
    present: () => informer.store.size,
  };
}

/** Creates the RemoteManifests, 16 requests at a time, as a user's pipeline would. */
async function createManifests(
  clusters: LocalClusters,
  manage: ClusterClient,
  namespace: string,
): Promise<{ ms: number; cpu: Cpu }> {
  await createNamespace(manage, namespace);
  const c0 = cpu(clusters);
  const t0 = performance.now();
  await lanes(MANIFESTS, 16, (i) =>
    manage.request('POST', `/apis/clusterregistry.dev/v1alpha1/namespaces/${namespace}/remotemanifests`, {
      body: {
        apiVersion: 'clusterregistry.dev/v1alpha1',
        kind: 'RemoteManifest',
        metadata: { name: `rm-${i}` },
        spec: { clusterSelector: { matchLabels: { bench: 'rmf' } }, manifests: [configMap(i, TARGET_NS)] },
      },
    }),
  );
  return { ms: performance.now() - t0, cpu: cpuSince(clusters, c0) };
}

async function until(what: string, check: () => boolean | Promise<boolean>, progress: () => string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  let lastPrint = Date.now();
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not done within ${TIMEOUT_MS} ms (${progress()})`);
    if (Date.now() - lastPrint > 5_000) {
      console.log(`  … ${what}: ${progress()}`);
      lastPrint = Date.now();
    }
    await sleep(20);
  }
}

async function labelledLeft(remotes: ClusterClient[]): Promise<number> {
  let n = 0;
  for (const client of remotes) {
    const list = await client.request<{ items?: unknown[] }>('GET', `/api/v1/namespaces/${TARGET_NS}/configmaps`, {
      query: { labelSelector: 'clusterregistry.dev/manifest', limit: 5_000 },
    });
    n += list.items?.length ?? 0;
  }
  return n;
}

await run(async () => {
  printMachine(
    `remotemanifest: ${MANIFESTS} RemoteManifests (one ConfigMap each) over ${REMOTES.length} remote clusters`,
  );
  await withClusters(1 + REMOTES.length, async (clusters) => {
    const manageKc = kubeConfigOf(clusters.get('manage'));
    for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(manageKc, crd);
    const manage = clientOf(clusters.get('manage'), 'bench-manage');
    const remotes = REMOTES.map((name) => clientOf(clusters.get(name), `bench-${name}`));
    await createNamespace(manage, APP_NS);
    for (const client of remotes) {
      await createNamespace(client, TARGET_NS);
      await createNamespace(client, FLOOR_NS);
    }

    // Warm both apiservers the same way before either side is measured.
    await floor(clusters, remotes);
    const before = await floor(clusters, remotes);
    console.log(`floor: server-side apply ${ms(before.apply)}, delete ${ms(before.remove)} for ${OBJECTS} ConfigMaps`);

    // What creating the RemoteManifests costs by itself (no controller runs yet): part of the
    // figure, since the clock starts at the first create.
    const creation = await createManifests(clusters, manage, 'bench-rmf-alone');
    await manage.request('DELETE', `/apis/clusterregistry.dev/v1alpha1/namespaces/bench-rmf-alone/remotemanifests`);
    console.log(`creating ${MANIFESTS} RemoteManifests alone: ${ms(creation.ms)}, ${perObject(creation.cpu)}`);

    const app = await startApp(clusters);
    let closed = false;
    const closeApp = async (): Promise<void> => {
      if (!closed) await app.close();
      closed = true;
    };
    const stop = new AbortController();
    try {
      await register(manage, clusters);
      const watch = watchManifests(manage, stop.signal);
      await watch.informer.waitForSync(stop.signal);
      // Both clusters Ready before the clock starts: a cluster's start is not what is measured.
      await until(
        'RemoteClusters Ready',
        async () => {
          const list = await manage.request<{ items: { status?: { conditions?: ConditionLike[] } }[] }>(
            'GET',
            '/apis/clusterregistry.dev/v1alpha1/remoteclusters',
            { query: { labelSelector: 'bench=rmf' } },
          );
          return (
            list.items.filter((rc) => rc.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
              .length === REMOTES.length
          );
        },
        () => 'waiting',
      );

      const requests = (): Promise<Map<string, number>[]> =>
        Promise.all([manage, ...remotes].map((client) => apiserverRequests(client, OUR_RESOURCES)));
      const q0 = await requests();
      const c0 = cpu(clusters);
      const t0 = performance.now();
      const created = (await createManifests(clusters, manage, APP_NS)).ms;
      await until(
        'all Applied',
        () => watch.applied() === MANIFESTS,
        () => `${watch.applied()}/${MANIFESTS} Applied`,
      );
      const applied = performance.now() - t0;
      const appliedCpu = cpuSince(clusters, c0);
      if ((await labelledLeft(remotes)) !== OBJECTS) throw new Error('not every ConfigMap is in both clusters');
      console.log(`created ${MANIFESTS} RemoteManifests in ${ms(created)}; all Applied after ${ms(applied)}`);

      const q1 = await requests();
      const c1 = cpu(clusters);
      const t1 = performance.now();
      await manage.request('DELETE', `/apis/clusterregistry.dev/v1alpha1/namespaces/${APP_NS}/remotemanifests`);
      await until(
        'all gone',
        () => watch.present() === 0,
        () => `${watch.present()} RemoteManifests left`,
      );
      const left = await labelledLeft(remotes);
      const removed = performance.now() - t1;
      const removedCpu = cpuSince(clusters, c1);
      if (left !== 0) throw new Error(`${left} applied ConfigMaps left after every RemoteManifest was deleted`);
      console.log(`all RemoteManifests and their ${OBJECTS} ConfigMaps gone after ${ms(removed)}`);
      // Where the manage cluster's CPU goes: the writes a RemoteManifest costs there, by design.
      const q2 = await requests();
      for (const [phase, from, to] of [
        ['apply', q0, q1],
        ['delete', q1, q2],
      ] as const) {
        console.log(
          `requests per RemoteManifest, ${phase} (apiserver_request_total): manage ${requestsPer(from[0]!, to[0]!, MANIFESTS)}; ` +
            `each remote ${REMOTES.map((_, r) => requestsPer(from[r + 1]!, to[r + 1]!, MANIFESTS)).join(' / ')}`,
        );
      }

      stop.abort();
      await closeApp();
      const after = await floor(clusters, remotes);
      console.log(`floor again: server-side apply ${ms(after.apply)}, delete ${ms(after.remove)}`);
      const bare = best(before, after);
      const rate = (msTaken: number): number => OBJECTS / (msTaken / 1000);
      report({
        what: `apply: ${MANIFESTS} RemoteManifests x ${REMOTES.length} clusters, create to all Applied with status mirrored`,
        figure: `${int(rate(applied))} objects/s (${ms(applied)} for ${OBJECTS}; creating the RemoteManifests took ${ms(created)} of it)`,
        floor: `${int(rate(bare.apply))} objects/s (bare server-side apply loop, ${ms(bare.apply)})`,
        ratio: `${(rate(applied) / rate(bare.apply)).toFixed(2)}x floor`,
        target: `>= ${TARGET}x floor`,
        pass: rate(applied) >= TARGET * rate(bare.apply),
      });
      report({
        what: `delete: every RemoteManifest deleted, until all gone and no applied ConfigMap left`,
        figure: `${int(rate(removed))} objects/s (${ms(removed)} for ${OBJECTS})`,
        floor: `${int(rate(bare.remove))} objects/s (bare DELETE loop, ${ms(bare.remove)})`,
        ratio: `${(rate(removed) / rate(bare.remove)).toFixed(2)}x floor`,
        target: `>= ${TARGET}x floor`,
        pass: rate(removed) >= TARGET * rate(bare.remove),
      });
      report({
        what: 'CPU per object, apply (the work, whatever else the machine does)',
        figure: perObject(appliedCpu),
        floor: perObject(bare.applyCpu),
        target: 'reference',
      });
      report({
        what: 'CPU per object, delete',
        figure: perObject(removedCpu),
        floor: perObject(bare.removeCpu),
        target: 'reference',
      });
    } finally {
      stop.abort();
      await closeApp();
      await manage.close();
      for (const client of remotes) await client.close();
    }
  });
});
