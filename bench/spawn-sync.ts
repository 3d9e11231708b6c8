// Spawn-to-synced time of one remote cluster runtime whose reconciler watches 1,000 pods, against
// its floor: a fresh ClusterClient listing the same pods, paginated (limit 500). Both include a
// new TLS connection; the runtime also creates a NestJS context, resolves the kind (GET /api/v1)
// and fills its cache. Rounds alternate floor and runtime (stopped between rounds), each measured
// after a full gc and a short pause so neither pays for the garbage of the one before; medians.
// Run: npm run bench:spawn-sync
import {
  bareList,
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
} from './support.js';

const PODS = 1_000;
const ROUNDS = 21;
const WARMUP = 2;
const NAMESPACE = 'bench-spawn';

async function settle(): Promise<void> {
  gc();
  await sleep(200);
}

await run(async () => {
  printMachine(`spawn-sync: registry.spawn() + waitForSync() of a runtime caching ${PODS} pods`);
  await withClusters(2, async (clusters) => {
    const remote = clusters.get('remote-1');
    const admin = clientOf(remote);
    const created = performance.now();
    await createNamespace(admin, NAMESPACE);
    await createPods(admin, NAMESPACE, PODS);
    await admin.close();
    console.log(`created ${PODS} pods in ${NAMESPACE} in ${((performance.now() - created) / 1000).toFixed(1)} s`);

    const root = await startRoot({
      manage: kubeConfigOf(clusters.get('manage')),
      hooks: { namespaceOf: () => NAMESPACE },
    });
    const kubeConfig = kubeConfigOf(remote);
    try {
      const floors: number[] = [];
      const spawns: number[] = [];
      const contexts: number[] = [];
      let cached = 0;
      for (let round = -WARMUP; round < ROUNDS; round++) {
        await settle();
        const client = clientOf(remote, 'floor');
        const t0 = performance.now();
        const listed = await bareList(client, NAMESPACE, 500);
        const floor = performance.now() - t0;
        await client.close();
        if (listed !== PODS) throw new Error(`listed ${listed} pods, expected ${PODS}`);

        await settle();
        const t1 = performance.now();
        await root.registry.spawn('remote-1', kubeConfig);
        const context = performance.now() - t1;
        await root.registry.waitForSync('remote-1', { timeoutMs: 60_000 });
        const spawn = performance.now() - t1;
        cached = root.registry.status('remote-1')!.watches[0]!.objects;
        await root.registry.stop('remote-1');
        if (cached !== PODS) throw new Error(`runtime cached ${cached} pods, expected ${PODS}`);

        if (round >= 0) {
          floors.push(floor);
          spawns.push(spawn);
          contexts.push(context);
        }
        console.log(
          `${round < 0 ? 'warm-up ' : `round ${String(round + 1).padStart(2)}`}  floor ${ms(floor).padStart(9)}   ` +
            `spawn+sync ${ms(spawn).padStart(9)} (spawn() ${ms(context).padStart(8)})   ${(spawn / floor).toFixed(2)}x`,
        );
      }
      const figure = median(spawns);
      const floor = median(floors);
      report({
        what: `spawn() + waitForSync(), ${PODS} pods cached, median of ${ROUNDS}`,
        figure:
          `${ms(figure)} (min ${ms(Math.min(...spawns))}, max ${ms(Math.max(...spawns))}; ` +
          `spawn() alone, i.e. the NestJS context, median ${ms(median(contexts))})`,
        floor: `${ms(floor)} fresh ClusterClient, paginated list limit 500 (min ${ms(Math.min(...floors))}, max ${ms(Math.max(...floors))})`,
        ratio: `${(figure / floor).toFixed(2)}x floor`,
        target: '<= 1.50x floor',
        pass: figure <= 1.5 * floor,
      });
    } finally {
      await root.close();
    }
  });
});
