// clusterregistry's side of the Go peer comparison, one process per measurement, with the peer's
// modes, flags and output (RESULT lines, READY, times files): each mode does what the peer's mode
// of the same name does, step for step, with our runtimes (a bench root app spawning one runtime
// per cluster, each with one Pod reconciler) and our client for the floors. bench/peer.ts runs it.
//
//   node dist/bench/peer-side.js <mode> -manage manage.kubeconfig -kubeconfigs a,b [flags]
//
// Modes: spawnsync, memory, scale, latency, watchfloor (as the peer's), and rss-baseline: the
// ready-made app (src/main.ts's modules, probes and metrics on) up and ready, no runtime.
import { createInterface } from 'node:readline';
import { mono, parseFlags, printResult, writeTimes } from './peer/protocol.js';
import { APP_MAIN, appEnv, appReady, BOOT_MEMORY_RELEASED, measureProcess } from './app-process.js';
import { applyAppV8Flags, bareClient, startRuntimes, type OurRuntimes } from './peer/our-runtime.js';
import { footprintGc, gc, median, sleep } from './stats.js';

interface Flags {
  manage: string;
  kubeconfigs: string[];
  namespace: string;
  pods: number;
  rounds: number;
  warmup: number;
  idle: number[];
  caching: number;
  emptyNS: string;
  podsNS: string;
  runtimes: number;
  nsPrefix: string;
  base: number;
  total: number;
  out: string;
  /** Set the ready-made app's V8 flags, as the image's app does (default), or not (-no-app-flags 1). */
  appFlags: boolean;
}

/** The peer's flags and defaults, plus -manage (our root app needs a manage cluster). */
function flagsOf(args: string[]): Flags {
  const f = parseFlags(args);
  const str = (name: string, fallback: string): string => f.get(name) ?? fallback;
  const num = (name: string, fallback: number): number => {
    const n = Number(f.get(name) ?? fallback);
    if (!Number.isFinite(n)) throw new Error(`-${name} must be a number`);
    return n;
  };
  return {
    manage: str('manage', ''),
    kubeconfigs: str('kubeconfigs', '').split(',').filter(Boolean),
    namespace: str('namespace', 'bench-mem-pods'),
    pods: num('pods', 1000),
    rounds: num('rounds', 7),
    warmup: num('warmup', 2),
    idle: str('idle', '10,50').split(',').map(Number),
    caching: num('caching', 10),
    emptyNS: str('empty-ns', 'bench-mem-empty'),
    podsNS: str('pods-ns', 'bench-mem-pods'),
    runtimes: num('runtimes', 10),
    nsPrefix: str('ns-prefix', 'bench-lat-'),
    base: num('base', 0),
    total: num('total', 12500),
    out: str('out', ''),
    appFlags: str('no-app-flags', '0') !== '1',
  };
}

const since = (t0: number): number => performance.now() - t0;
const rss = (): number => process.memoryUsage.rss();

interface Snap {
  heap: number;
  rss: number;
  external: number;
}

/** The peer's snapshot() before a memory figure: a pause, a full collection that returns what it
 * can to the OS (the peer's runtime.GC and debug.FreeOSMemory), then heap in use and RSS. */
async function snapshot(pauseMs: number): Promise<Snap> {
  await sleep(pauseMs);
  footprintGc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss, external: m.external };
}

/** The peer's snapshot() before a timed round: a pause and a plain full collection, so that the
 * round does not collect the last one's garbage. Not the footprint-reducing one: that also shrinks
 * V8's young generation to its minimum, and the round then pays the scavenges of growing it back
 * (spawn -> synced 64.4 against 56.6 ms, medians of three runs of three processes each,
 * alternating, 2026-11-27 21:45), where Go's FreeOSMemory leaves its collector's pacing as it was.
 * It does return Go's free pages to the OS, which the peer's round then faults back in; that part
 * is not mirrored here, and leans our way by an amount not measured. */
async function settle(pauseMs: number): Promise<void> {
  await sleep(pauseMs);
  gc();
}

function runtimesFor(
  f: Flags,
  namespaceOf: (name: string) => string,
  onReconcile?: (name: string, pod: unknown) => void,
) {
  if (!f.manage) throw new Error('-manage <kubeconfig> is required (our root app runs against a manage cluster)');
  return startRuntimes({ manageKubeconfig: f.manage, namespaceOf, onReconcile });
}

async function stopAll(rt: OurRuntimes, names: string[]): Promise<number> {
  const t0 = performance.now();
  await Promise.all(names.map((n) => rt.stop(n)));
  return since(t0);
}

// ---------------------------------------------------------------------------------------------

async function spawnSync(f: Flags): Promise<void> {
  const kubeconfig = f.kubeconfigs[0]!;
  let firstReconcile = 0;
  const rt = await runtimesFor(
    f,
    () => f.namespace,
    () => (firstReconcile ||= mono()),
  );
  const floors: number[] = [];
  const synced: number[] = [];
  const firstRec: number[] = [];
  for (let round = -f.warmup; round < f.rounds; round++) {
    await settle(200);
    const t0 = performance.now();
    const client = bareClient(kubeconfig, 'floor');
    const n = await client.list(f.namespace);
    const floor = since(t0);
    await client.close();
    if (n !== f.pods) throw new Error(`floor listed ${n} pods (want ${f.pods})`);

    await settle(200);
    firstReconcile = 0;
    const t1 = performance.now();
    const m1 = mono();
    await rt.spawn('remote-1', kubeconfig);
    await rt.waitForSync('remote-1', 60_000);
    const sync = since(t1);
    const deadline = performance.now() + 5_000;
    while (firstReconcile === 0 && performance.now() < deadline) await sleep(1);
    const first = (firstReconcile - m1) / 1e6;
    const cached = rt.cached('remote-1');
    await rt.stop('remote-1');
    if (cached !== f.pods) throw new Error(`runtime cached ${cached} pods (want ${f.pods})`);
    if (round >= 0) {
      floors.push(floor);
      synced.push(sync);
      firstRec.push(first);
    }
    process.stderr.write(
      `ts spawnsync round ${round}: floor ${floor.toFixed(1)} ms, synced ${sync.toFixed(1)} ms, first reconcile ${first.toFixed(1)} ms\n`,
    );
  }
  await rt.close();
  printResult({
    mode: 'spawnsync',
    floor: floors,
    synced,
    firstReconcile: firstRec,
    medianFloor: median(floors),
    medianSynced: median(synced),
    medianFirstReconcile: median(firstRec),
  });
}

async function memory(f: Flags): Promise<void> {
  let namespace = f.emptyNS;
  const reconciles = new Map<string, number>();
  const rt = await runtimesFor(
    f,
    () => namespace,
    (name) => reconciles.set(name, (reconciles.get(name) ?? 0) + 1),
  );
  // Ten at a time, as the peer and bench/memory.ts do.
  const spawnAll = async (prefix: string, n: number): Promise<string[]> => {
    const names = Array.from({ length: n }, (_, j) => `${prefix}-${j}`);
    for (let i = 0; i < n; i += 10) {
      const batch = names.slice(i, i + 10);
      await Promise.all(batch.map((name, j) => rt.spawn(name, f.kubeconfigs[(i + j) % f.kubeconfigs.length]!)));
      await Promise.all(batch.map((name) => rt.waitForSync(name, 60_000)));
    }
    return names;
  };
  await stopAll(rt, await spawnAll('warm-up', 1));
  for (const n of f.idle) {
    const before = await snapshot(500);
    const names = await spawnAll('idle', n);
    await sleep(1_000);
    const after = await snapshot(500);
    await stopAll(rt, names);
    printResult({
      mode: 'memory',
      phase: `idle-${n}`,
      n,
      before,
      after,
      heapPer: (after.heap - before.heap) / n,
      rssPer: (after.rss - before.rss) / n,
    });
  }
  namespace = f.podsNS;
  reconciles.clear();
  const before = await snapshot(500);
  const names = await spawnAll('caching', f.caching);
  await sleep(2_000);
  const after = await snapshot(500);
  for (const name of names) {
    if (rt.cached(name) !== f.pods) throw new Error(`${name} caches ${rt.cached(name)} pods (want ${f.pods})`);
    const seen = reconciles.get(name) ?? 0;
    if (seen < f.pods) process.stderr.write(`warning: ${name} reconciled ${seen} < ${f.pods}\n`);
  }
  await stopAll(rt, names);
  await rt.close();
  printResult({
    mode: 'memory',
    phase: `caching-${f.caching}`,
    n: f.caching,
    before,
    after,
    heapPer: (after.heap - before.heap) / f.caching,
    rssPer: (after.rss - before.rss) / f.caching,
  });
}

async function scale(f: Flags): Promise<void> {
  const indexes = Array.from({ length: f.runtimes }, (_, i) => i);
  const kubeconfigOf = (i: number): string => f.kubeconfigs[i % f.kubeconfigs.length]!;
  const namespaceOf = (i: number): string => `${f.nsPrefix}${i}`;
  const names = indexes.map((i) => `rt-${i}`);
  const rt = await runtimesFor(f, (name) => namespaceOf(Number(name.slice('rt-'.length))));
  const floor = async (): Promise<number> => {
    const t0 = performance.now();
    const counts = await Promise.all(
      indexes.map(async (i) => {
        const client = bareClient(kubeconfigOf(i), `floor-${i}`);
        try {
          return await client.list(namespaceOf(i));
        } finally {
          await client.close();
        }
      }),
    );
    const elapsed = since(t0);
    const bad = counts.filter((n) => n !== f.pods).length;
    if (bad > 0) throw new Error(`${bad} floor lists short`);
    return elapsed;
  };
  const spawnAndSync = async (): Promise<number> => {
    const t0 = performance.now();
    await Promise.all(
      indexes.map(async (i) => {
        await rt.spawn(names[i]!, kubeconfigOf(i));
        await rt.waitForSync(names[i]!, 60_000);
      }),
    );
    return since(t0);
  };

  const base = await snapshot(500);
  await floor();
  // Warm-up round, the first spawn of all in this process (the peer reports it as "cold").
  const coldSynced = await spawnAndSync();
  const coldRss = rss();
  await sleep(1_000);
  const cold = await snapshot(500);
  await stopAll(rt, names);
  const floors: number[] = [];
  const synced: number[] = [];
  const rssAtSync: number[] = [];
  const rssGC: number[] = [];
  const heapGC: number[] = [];
  const stops: number[] = [];
  for (let r = 0; r < f.rounds; r++) {
    await settle(500);
    floors.push(await floor());
    await settle(500);
    const t = await spawnAndSync();
    synced.push(t);
    rssAtSync.push(rss());
    await sleep(1_000);
    const s = await snapshot(500);
    rssGC.push(s.rss);
    heapGC.push(s.heap);
    stops.push(await stopAll(rt, names));
    await sleep(1_500);
    process.stderr.write(
      `ts scale round ${r}: floor ${floors[r]!.toFixed(1)} ms, ${f.runtimes} synced in ${t.toFixed(1)} ms, ` +
        `rss at sync ${(rssAtSync[r]! / 2 ** 20).toFixed(1)} MiB, after gc ${(s.rss / 2 ** 20).toFixed(1)} MiB\n`,
    );
  }
  await rt.close();
  printResult({
    mode: 'scale',
    coldSynced,
    coldRssAtSync: coldRss,
    coldGC: cold,
    floor: floors,
    synced,
    rssAtSync,
    rssGC,
    heapGC,
    stop: stops,
    base,
  });
}

// ---------------------------------------------------------------------------------------------
// latency and its floor: up, READY, record until "stop" on stdin, write the times

function seqOf(pod: unknown, f: Flags): number {
  const value = (pod as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata?.labels?.seq;
  if (value === undefined) return -1;
  const n = Number(value);
  return Number.isInteger(n) && n >= f.base && n < f.base + f.total ? n - f.base : -1;
}

async function untilStop(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line.trim() === 'stop') break;
  lines.close();
}

async function latency(f: Flags): Promise<void> {
  const seen = new Float64Array(f.total);
  const names = Array.from({ length: f.runtimes }, (_, i) => `rt-${i}`);
  const rt = await runtimesFor(
    f,
    (name) => `${f.nsPrefix}${name.slice('rt-'.length)}`,
    (_name, pod) => {
      const i = seqOf(pod, f);
      if (i >= 0 && seen[i] === 0) seen[i] = mono();
    },
  );
  await Promise.all(names.map((name, i) => rt.spawn(name, f.kubeconfigs[i % f.kubeconfigs.length]!)));
  await Promise.all(names.map((name) => rt.waitForSync(name, 60_000)));
  await sleep(1_000);
  const rssBefore = rss();
  process.stdout.write('READY\n');
  const cpu0 = process.cpuUsage();
  await untilStop();
  const cpu = process.cpuUsage(cpu0);
  writeTimes(f.out, seen);
  printResult({ mode: 'latency', cpuSeconds: (cpu.user + cpu.system) / 1e6, rssBefore, rssAfter: rss() });
  await stopAll(rt, names);
  await rt.close();
}

/** A bare watch per namespace (one client per apiserver, as the peer's clientsFor), recording when
 * each seq is first seen. */
async function watchfloor(f: Flags): Promise<void> {
  const seen = new Float64Array(f.total);
  const clients = f.kubeconfigs.map((k, i) => bareClient(k, `bare-watch-${i}`));
  const watching = new AbortController();
  const watches = await Promise.all(
    Array.from({ length: f.runtimes }, (_, i) =>
      clients[i % clients.length]!.watch(
        `${f.nsPrefix}${i}`,
        (pod) => {
          const s = seqOf(pod, f);
          if (s >= 0 && seen[s] === 0) seen[s] = mono();
        },
        watching.signal,
      ),
    ),
  );
  await sleep(1_000);
  process.stdout.write('READY\n');
  await untilStop();
  watching.abort();
  await Promise.allSettled(watches.map((w) => w.ended));
  writeTimes(f.out, seen);
  printResult({ mode: 'watchfloor' });
  await Promise.all(clients.map((c) => c.close()));
}

/** RSS of the ready-made app up and ready, before any runtime; as the peer's snapshot (runtime.GC
 * and debug.FreeOSMemory), after a full collection too: the app's own, once it is ready. */
async function rssBaseline(f: Flags): Promise<void> {
  if (!f.manage) throw new Error('-manage <kubeconfig> is required');
  // The app's own process (its bundle, dist/app/main.mjs), as a pod runs it: this process carries the bench's code.
  const m = await measureProcess([APP_MAIN], appEnv(f.manage), appReady, 500, BOOT_MEMORY_RELEASED);
  printResult({
    mode: 'rss-baseline',
    rssAtReady: m.atReady,
    heapAtReady: NaN,
    rss: m.settled,
    heap: NaN,
    external: NaN,
  });
}

const MODES: Record<string, (f: Flags) => Promise<void>> = {
  spawnsync: spawnSync,
  memory,
  scale,
  latency,
  watchfloor,
  'rss-baseline': rssBaseline,
};

const [mode = '', ...args] = process.argv.slice(2);
const run = MODES[mode];
if (!run) {
  process.stderr.write(`usage: peer-side <${Object.keys(MODES).join('|')}> [flags]\n`);
  process.exit(2);
}
try {
  const flags = flagsOf(args);
  if (flags.appFlags) applyAppV8Flags();
  await run(flags);
  // Runtimes and clients are closed; exit rather than wait for keep-alive sockets to time out.
  process.exit(0);
} catch (err) {
  process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
