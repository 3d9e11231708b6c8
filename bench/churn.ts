// 1,000 spawn/stop cycles of one runtime (sequential; each waits for sync, so every cycle opens
// a connection, lists, watches and reconciles 10 pods): heap after gc, open sockets, active
// handles by type and process listener counts before vs after, and the latency of stop().
// Floors: the same process before the cycles (after 20 unmeasured cycles, so code loaded once is
// not counted), and for stop() a bare ClusterClient with an open watch being closed.
// Run: npm run bench:churn
import {
  activeResources,
  clientOf,
  createNamespace,
  createPods,
  gc,
  int,
  kubeConfigOf,
  mib,
  ms,
  openSockets,
  percentile,
  printMachine,
  processListeners,
  report,
  run,
  sleep,
  startRoot,
  withClusters,
} from './support.js';

const CYCLES = 1_000;
const WARMUP = 20;
const FLOOR_CLOSES = 100;
const NAMESPACE = 'bench-churn';
const PODS = 10;

interface Footprint {
  heap: number;
  sockets: number;
  resources: Record<string, number>;
  listeners: Record<string, number>;
}

async function footprint(): Promise<Footprint> {
  // Closed sockets and finished timers leave the active list on the next turns of the loop.
  await sleep(1_000);
  gc();
  return {
    heap: process.memoryUsage().heapUsed,
    sockets: openSockets(),
    resources: activeResources(),
    listeners: processListeners(),
  };
}

/** Keys whose count grew from `a` to `b`, as "key a->b". */
function grown(a: Record<string, number>, b: Record<string, number>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => (b[k] ?? 0) > (a[k] ?? 0))
    .map((k) => `${k} ${a[k] ?? 0}->${b[k] ?? 0}`);
}

const counts = (r: Record<string, number>): string =>
  Object.entries(r)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

await run(async () => {
  printMachine(`churn: ${int(CYCLES)} spawn/stop cycles of one runtime`);
  await withClusters(2, async (clusters) => {
    const remote = clusters.get('remote-1');
    const admin = clientOf(remote);
    await createNamespace(admin, NAMESPACE);
    await createPods(admin, NAMESPACE, PODS);
    await admin.close();

    let reconciles = 0;
    const root = await startRoot({
      manage: kubeConfigOf(clusters.get('manage')),
      hooks: { namespaceOf: () => NAMESPACE, onReconcile: () => void reconciles++ },
    });
    const kubeConfig = kubeConfigOf(remote);
    try {
      const cycle = async (): Promise<number> => {
        await root.registry.spawn('churn', kubeConfig);
        await root.registry.waitForSync('churn', { timeoutMs: 30_000 });
        const t = performance.now();
        await root.registry.stop('churn');
        return performance.now() - t;
      };

      // Floor of stop(): closing a bare client whose watch is open.
      const floorCloses: number[] = [];
      for (let i = 0; i < FLOOR_CLOSES; i++) {
        const client = clientOf(remote, 'floor');
        const watch = new AbortController();
        const { body } = await client.stream(
          `/api/v1/namespaces/${NAMESPACE}/pods`,
          { watch: 1, timeoutSeconds: 300 },
          watch.signal,
          60_000,
        );
        body.on('error', () => undefined);
        body.resume();
        const t = performance.now();
        await client.close();
        floorCloses.push(performance.now() - t);
      }

      for (let i = 0; i < WARMUP; i++) await cycle();
      const before = await footprint();
      console.log(
        `before: heap ${mib(before.heap)}, ${before.sockets} sockets, handles ${counts(before.resources)}, ` +
          `listeners ${counts(before.listeners)}`,
      );

      const stops: number[] = [];
      const started = performance.now();
      reconciles = 0;
      for (let i = 1; i <= CYCLES; i++) {
        stops.push(await cycle());
        if (i % 250 === 0 && i < CYCLES) {
          const f = await footprint();
          console.log(
            `after ${int(i)} cycles: heap ${mib(f.heap)} (${f.heap >= before.heap ? '+' : ''}${mib(f.heap - before.heap)}), ` +
              `${f.sockets} sockets`,
          );
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const after = await footprint();
      console.log(
        `after ${int(CYCLES)} cycles (${seconds.toFixed(1)} s, ${int(reconciles)} reconciles): heap ${mib(after.heap)}, ` +
          `${after.sockets} sockets, handles ${counts(after.resources)}, listeners ${counts(after.listeners)}`,
      );

      const heapGrowth = after.heap - before.heap;
      report({
        what: `heap growth over ${int(CYCLES)} spawn/stop cycles (after gc)`,
        figure: `${heapGrowth >= 0 ? '+' : ''}${mib(heapGrowth)} (${mib(after.heap)} after)`,
        floor: `${mib(before.heap)} before the cycles`,
        ratio: `${((heapGrowth / CYCLES) * 1024 ** -1).toFixed(2)} KiB per cycle`,
        target: '< 5 MiB growth',
        pass: heapGrowth < 5 * 2 ** 20,
      });
      const resourceGrowth = grown(before.resources, after.resources);
      const listenerGrowth = grown(before.listeners, after.listeners);
      report({
        what: `open sockets, active handles/timers and process listeners after ${int(CYCLES)} cycles`,
        figure: `${after.sockets} sockets; handles ${counts(after.resources)}; listeners ${counts(after.listeners)}`,
        floor: `${before.sockets} sockets; handles ${counts(before.resources)}; listeners ${counts(before.listeners)}`,
        ratio: `grown: ${[...(after.sockets > before.sockets ? [`sockets ${before.sockets}->${after.sockets}`] : []), ...resourceGrowth, ...listenerGrowth].join(', ') || 'nothing'}`,
        target: 'no growth',
        pass: after.sockets <= before.sockets && resourceGrowth.length === 0 && listenerGrowth.length === 0,
      });
      const p50 = percentile(stops, 50);
      const p99 = percentile(stops, 99);
      report({
        what: `stop() latency of a synced runtime with an open watch, ${int(CYCLES)} stops`,
        figure: `p50 ${ms(p50)}, p99 ${ms(p99)}, max ${ms(Math.max(...stops))}`,
        floor: `p50 ${ms(percentile(floorCloses, 50))}, p99 ${ms(percentile(floorCloses, 99))}: close() of a bare ClusterClient with an open watch (${FLOOR_CLOSES} times)`,
        ratio: `p99 ${(p99 / percentile(floorCloses, 99)).toFixed(1)}x floor`,
        target: 'p99 < 100 ms',
        pass: p99 < 100,
      });
    } finally {
      await root.close();
    }
  });
});
