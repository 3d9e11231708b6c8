// 100 remote cluster runtimes in one process, against 2 apiservers (50 each; on 2 cores more
// apiservers would measure their CPU contention): the time from spawning all of them at once to
// all synced, each runtime watching the pods of its own namespace (10 pods each). Then the same
// with a dead cluster added: a TCP server on 127.0.0.1 that accepts connections and never answers
// (no refusal, no reset, a TLS handshake that never ends). The other 100 must sync in about the
// same time, and the dead one must show as degraded.
// Floor: 100 fresh ClusterClients listing the same namespaces (paginated), all at once.
// Rounds alternate floor, 100 runtimes, 100 runtimes + dead; medians.
// Run: npm run bench:scale
import type { KubeConfig } from '@kubernetes/client-node';
import type { LocalClusters } from '../src/envtest/local-clusters.js';
import {
  bareList,
  blackHole,
  clientOf,
  createNamespace,
  createPods,
  gc,
  kubeConfigOf,
  median,
  ms,
  printMachine,
  report,
  run,
  sleep,
  startRoot,
  withClusters,
  type RootApp,
} from './support.js';

const RUNTIMES = 100;
const APISERVERS = 2;
const PODS_PER_NAMESPACE = 10;
const ROUNDS = 3;
const DEGRADED_WITHIN_MS = 30_000;

const namespaceOf = (i: number): string => `bench-scale-${i}`;
const runtimeName = (i: number): string => `rt-${i}`;
const remoteOf = (i: number): string => `remote-${(i % APISERVERS) + 1}`;
const indexes = Array.from({ length: RUNTIMES }, (_, i) => i);

async function settle(): Promise<void> {
  gc();
  await sleep(500);
}

async function floor(clusters: LocalClusters): Promise<number> {
  const clients = indexes.map((i) => clientOf(clusters.get(remoteOf(i)), `floor-${i}`));
  const started = performance.now();
  const counts = await Promise.all(indexes.map((i) => bareList(clients[i]!, namespaceOf(i))));
  const elapsed = performance.now() - started;
  await Promise.all(clients.map((c) => c.close()));
  if (counts.some((n) => n !== PODS_PER_NAMESPACE)) throw new Error(`a floor list was short: ${counts.join(',')}`);
  return elapsed;
}

/** spawn() calls of the last spawnAndSync: until every context had started. */
const spawnCalls: number[] = [];

/** Spawns the 100 (and `extra`, if any) at once; resolves when the 100 are synced. */
async function spawnAndSync(root: RootApp, configs: KubeConfig[], extra?: KubeConfig): Promise<number> {
  const started = performance.now();
  await Promise.all([
    ...indexes.map((i) => root.registry.spawn(runtimeName(i), configs[i]!)),
    ...(extra ? [root.registry.spawn('dead', extra)] : []),
  ]);
  spawnCalls.push(performance.now() - started);
  await Promise.all(indexes.map((i) => root.registry.waitForSync(runtimeName(i), { timeoutMs: 60_000 })));
  const elapsed = performance.now() - started;
  const synced = indexes.filter((i) => root.registry.status(runtimeName(i))?.phase === 'synced').length;
  if (synced !== RUNTIMES) throw new Error(`only ${synced} of ${RUNTIMES} runtimes synced`);
  return elapsed;
}

async function stopAll(root: RootApp): Promise<number> {
  const started = performance.now();
  await Promise.all(root.registry.names().map((n) => root.registry.stop(n)));
  return performance.now() - started;
}

await run(async () => {
  printMachine(`scale: ${RUNTIMES} remote cluster runtimes in one process`);
  console.log(
    `${RUNTIMES} runtimes against ${APISERVERS} remote apiservers (${RUNTIMES / APISERVERS} each; on 2 cores, more ` +
      `apiservers would measure their CPU contention), each watching its own namespace of ${PODS_PER_NAMESPACE} pods`,
  );
  await withClusters(1 + APISERVERS, async (clusters) => {
    const admins = new Map(
      Array.from({ length: APISERVERS }, (_, r) => [`remote-${r + 1}`, clientOf(clusters.get(`remote-${r + 1}`))]),
    );
    for (const i of indexes) await createNamespace(admins.get(remoteOf(i))!, namespaceOf(i));
    for (let i = 0; i < RUNTIMES; i += 10) {
      await Promise.all(
        indexes
          .slice(i, i + 10)
          .map((j) => createPods(admins.get(remoteOf(j))!, namespaceOf(j), PODS_PER_NAMESPACE, { parallel: 4 })),
      );
    }
    for (const c of admins.values()) await c.close();

    const names = new Map(indexes.map((i) => [runtimeName(i), namespaceOf(i)]));
    const root = await startRoot({
      manage: kubeConfigOf(clusters.get('manage')),
      hooks: { namespaceOf: (cluster) => names.get(cluster) ?? 'bench-scale-dead' },
    });
    const configs = indexes.map((i) => kubeConfigOf(clusters.get(remoteOf(i))));
    const dead = await blackHole();
    const deadConfig = kubeConfigOf(clusters.get('remote-1'), dead.url);
    try {
      // Warm-up: code paths and connections of the apiservers' own caches.
      await floor(clusters);
      await spawnAndSync(root, configs);
      await stopAll(root);

      const floors: number[] = [];
      const plain: number[] = [];
      const withDead: number[] = [];
      const stops: number[] = [];
      const degradedAfter: number[] = [];
      const deadStops: number[] = [];
      let cause = '';
      for (let round = 1; round <= ROUNDS; round++) {
        await settle();
        floors.push(await floor(clusters));
        await settle();
        plain.push(await spawnAndSync(root, configs));
        stops.push(await stopAll(root));

        await settle();
        const started = performance.now();
        withDead.push(await spawnAndSync(root, configs, deadConfig));
        const degradedAt = await (async () => {
          while (performance.now() - started < DEGRADED_WITHIN_MS) {
            const status = root.registry.status('dead');
            if (status?.phase === 'degraded') {
              cause = `reason ${status.cause?.reason}; message "${status.cause?.message}"`;
              return performance.now() - started;
            }
            await sleep(50);
          }
          return NaN;
        })();
        degradedAfter.push(degradedAt);
        const phases = root.registry.list().reduce<Record<string, number>>((acc, s) => {
          acc[s.phase] = (acc[s.phase] ?? 0) + 1;
          return acc;
        }, {});
        const t = performance.now();
        await root.registry.stop('dead');
        deadStops.push(performance.now() - t);
        stops.push(await stopAll(root));
        console.log(
          `round ${round}: floor ${ms(floors.at(-1)!)}   100 synced ${ms(plain.at(-1)!)}   ` +
            `with dead: 100 synced ${ms(withDead.at(-1)!)}, dead degraded after ${ms(degradedAt)} ` +
            `(phases then: ${JSON.stringify(phases)}), dead stopped in ${ms(deadStops.at(-1)!)}`,
        );
      }
      console.log(`dead cluster's cause: ${cause}`);
      console.log(`black hole saw ${dead.connections()} connections still open after the last stop`);
      console.log(`stop of all runtimes at once: median ${ms(median(stops))}`);
      console.log(
        `of the time to synced, spawn() of all (${RUNTIMES} NestJS contexts created, on one thread) took: ` +
          `median ${ms(median(spawnCalls.slice(1)))}`,
      );

      const f = median(floors);
      const p = median(plain);
      const d = median(withDead);
      report({
        what: `${RUNTIMES} runtimes spawned at once until all synced, median of ${ROUNDS}`,
        figure: `${ms(p)} (${plain.map(ms).join(', ')})`,
        floor: `${ms(f)} for ${RUNTIMES} fresh ClusterClients listing the same namespaces at once (${floors.map(ms).join(', ')})`,
        ratio: `${(p / f).toFixed(2)}x floor`,
        target: 'none given (for reference)',
      });
      const degraded = degradedAfter.every((x) => Number.isFinite(x));
      report({
        what: `${RUNTIMES} runtimes + 1 dead cluster (accepts, never answers): the ${RUNTIMES} until synced, median of ${ROUNDS}`,
        figure: `${ms(d)} (${withDead.map(ms).join(', ')}); dead one degraded after ${degradedAfter.map(ms).join(', ')}`,
        floor: `${ms(p)} for the same ${RUNTIMES} runtimes without the dead one`,
        ratio: `${(d / p).toFixed(2)}x`,
        target: `<= 1.25x the time without the dead cluster, and the dead one 'degraded' within ${DEGRADED_WITHIN_MS / 1000} s`,
        pass: d <= 1.25 * p && degraded,
      });
    } finally {
      await root.close();
      await dead.close();
    }
  });
});
