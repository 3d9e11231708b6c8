// Memory per running cluster runtime: heap used and RSS after a full, footprint-reducing collection
// (footprintGc, as the Go peer returns freed memory before reading its RSS), for 50 idle runtimes
// (each watching pods in an empty namespace) and for 10 runtimes each caching the same 1,000
// pods, divided by the number of runtimes. Floor: the same process before spawning (root app up,
// one runtime spawned and stopped beforehand so that code loaded once is not counted per runtime).
// For the cached pods, a second reference: the heap one bare copy of the 1,000 pods takes as the
// cache holds them (parsed, managedFields kept with their field sets shared).
// Run: npm run bench:memory
import { getHeapStatistics } from 'node:v8';
import type { ClusterClient } from '../src/client/cluster-client.js';
import { rssBreakdown } from './app-process.js';
import { shareManagedFields } from '../src/cache/store.js';
import type { KubeObject } from '../src/cache/types.js';
import {
  clientOf,
  createNamespace,
  createPods,
  footprintGc,
  kubeConfigOf,
  mib,
  printMachine,
  report,
  run,
  sleep,
  startRoot,
  withClusters,
  type RootApp,
} from './support.js';
import type { KubeConfig } from '@kubernetes/client-node';

const IDLE = 50;
const CACHING = 10;
const PODS = 1_000;
const EMPTY_NS = 'bench-mem-empty';
const PODS_NS = 'bench-mem-pods';

interface Snapshot {
  heap: number;
  rss: number;
  external: number;
  /** V8's heap as committed (total_heap_size): used plus free space in its pages. */
  heapCommitted: number;
  arrayBuffers: number;
  /** Resident anonymous and file-backed memory (/proc/self/smaps; 0 where there is none). */
  anonymous: number;
  file: number;
}

async function snapshot(): Promise<Snapshot> {
  await sleep(500);
  footprintGc();
  const m = process.memoryUsage();
  return {
    heap: m.heapUsed,
    rss: m.rss,
    external: m.external,
    heapCommitted: getHeapStatistics().total_heap_size,
    arrayBuffers: m.arrayBuffers,
    ...residentByKind(),
  };
}

/** Resident anonymous and file-backed bytes of this process (0 where /proc is not there). */
function residentByKind(): { anonymous: number; file: number } {
  try {
    const r = rssBreakdown(process.pid);
    return { anonymous: r.anonymous, file: r.nodeBinary + r.otherFiles };
  } catch {
    return { anonymous: 0, file: 0 };
  }
}

/** Where the RSS that `n` runtimes added lives: V8's heap (used, and committed beyond that),
 * array buffers, other anonymous memory (malloc: TLS, HTTP/2 sessions, V8's own structures) and
 * file-backed pages (code). */
function perRuntimeRss(from: Snapshot, to: Snapshot, n: number): string {
  const per = (bytes: number): string => mib(bytes / n);
  const heapCommitted = to.heapCommitted - from.heapCommitted;
  const buffers = to.arrayBuffers - from.arrayBuffers;
  const otherAnonymous = to.anonymous - from.anonymous - heapCommitted - buffers;
  return (
    `per runtime: RSS ${per(to.rss - from.rss)} = V8 heap committed ${per(heapCommitted)} ` +
    `(used ${per(to.heap - from.heap)}) + array buffers ${per(buffers)} + other anonymous ${per(otherAnonymous)} ` +
    `+ file-backed ${per(to.file - from.file)}`
  );
}

const show = (label: string, s: Snapshot): void =>
  console.log(
    `${label.padEnd(44)} heap ${mib(s.heap).padStart(11)}   rss ${mib(s.rss).padStart(11)}   external ${mib(s.external).padStart(10)}`,
  );

async function spawnAll(root: RootApp, names: string[], kubeConfig: KubeConfig): Promise<void> {
  // Ten at a time: a burst of 50 TLS handshakes is a start-up cost, not what is measured here.
  for (let i = 0; i < names.length; i += 10) {
    const batch = names.slice(i, i + 10);
    await Promise.all(batch.map((n) => root.registry.spawn(n, kubeConfig)));
    await Promise.all(batch.map((n) => root.registry.waitForSync(n, { timeoutMs: 60_000 })));
  }
}

async function stopAll(root: RootApp, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => root.registry.stop(n)));
}

/** The 1,000 pods as the cache keeps them, held once. */
async function bareCopy(client: ClusterClient): Promise<KubeObject[]> {
  const items: KubeObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.request<{ items: KubeObject[]; metadata: { continue?: string } }>(
      'GET',
      `/api/v1/namespaces/${PODS_NS}/pods`,
      { query: { limit: 500, continue: token } },
    );
    for (const item of page.items) items.push(shareManagedFields(item));
    token = page.metadata.continue || undefined;
  } while (token);
  return items;
}

await run(async () => {
  printMachine('memory: heap and RSS per running cluster runtime');
  await withClusters(2, async (clusters) => {
    const remote = clusters.get('remote-1');
    const admin = clientOf(remote);
    await createNamespace(admin, EMPTY_NS);
    await createNamespace(admin, PODS_NS);
    await createPods(admin, PODS_NS, PODS);

    let namespace = EMPTY_NS;
    const root = await startRoot({
      manage: kubeConfigOf(clusters.get('manage')),
      hooks: { namespaceOf: () => namespace },
    });
    const kubeConfig = kubeConfigOf(remote);
    try {
      // Load every code path once.
      await spawnAll(root, ['warm-up'], kubeConfig);
      await stopAll(root, ['warm-up']);

      // Idle runtimes.
      const idle = Array.from({ length: IDLE }, (_, i) => `idle-${i}`);
      const before = await snapshot();
      show('floor: before spawning', before);
      await spawnAll(root, idle, kubeConfig);
      await sleep(1_000); // watches open
      const idleUp = await snapshot();
      show(`${IDLE} idle runtimes running`, idleUp);
      console.log(`  ${perRuntimeRss(before, idleUp, IDLE)}`);
      await stopAll(root, idle);
      const idleDown = await snapshot();
      show(`after stopping them`, idleDown);
      const idleHeap = (idleUp.heap - before.heap) / IDLE;
      const idleRss = (idleUp.rss - before.rss) / IDLE;
      report({
        what: `heap per idle runtime (${IDLE} runtimes watching pods in an empty namespace)`,
        figure: `${mib(idleHeap)} heap, ${mib(idleRss)} RSS per runtime`,
        floor: `${mib(before.heap)} heap, ${mib(before.rss)} RSS before spawning (the process, not per runtime)`,
        ratio: `+${mib(idleUp.heap - before.heap)} heap for ${IDLE} runtimes; ${mib(idleDown.heap - before.heap)} left after stopping them`,
        target: '<= 2 MiB heap per idle runtime',
        pass: idleHeap <= 2 * 2 ** 20,
      });

      // Runtimes caching 1,000 pods each.
      const copyBefore = await snapshot();
      let copy: KubeObject[] | undefined = await bareCopy(admin);
      const copyAfter = await snapshot();
      const copyHeap = copyAfter.heap - copyBefore.heap;
      console.log(`\nreference: one bare copy of the ${copy.length} pods as cached: ${mib(copyHeap)} heap`);
      copy = undefined;

      namespace = PODS_NS;
      const caching = Array.from({ length: CACHING }, (_, i) => `caching-${i}`);
      const before2 = await snapshot();
      show('floor: before spawning', before2);
      await spawnAll(root, caching, kubeConfig);
      await sleep(2_000); // the first reconcile of every pod is through
      const cachingUp = await snapshot();
      show(`${CACHING} runtimes caching ${PODS} pods each`, cachingUp);
      console.log(`  ${perRuntimeRss(before2, cachingUp, CACHING)}`);
      for (const n of caching) {
        const objects = root.registry.status(n)!.watches[0]!.objects;
        if (objects !== PODS) throw new Error(`${n} caches ${objects} pods, expected ${PODS}`);
      }
      await stopAll(root, caching);
      const cachingDown = await snapshot();
      show('after stopping them', cachingDown);
      const perRuntime = (cachingUp.heap - before2.heap) / CACHING;
      const expected = idleHeap + copyHeap;
      report({
        what: `heap per runtime caching ${PODS} pods (${CACHING} runtimes)`,
        figure: `${mib(perRuntime)} heap, ${mib((cachingUp.rss - before2.rss) / CACHING)} RSS per runtime`,
        floor: `${mib(expected)} = idle runtime ${mib(idleHeap)} + one bare copy of the pods ${mib(copyHeap)}`,
        ratio: `${(perRuntime / expected).toFixed(2)}x; ${mib(cachingDown.heap - before2.heap)} left after stopping them`,
        target: 'none (for reference)',
      });
    } finally {
      await root.close();
      await admin.close();
    }
  });
});
