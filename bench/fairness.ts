// Fairness of the process-wide reconcile limit: one remote cluster flooded with 10,000 pod changes
// as fast as its apiserver accepts them, while three quiet clusters change at 10/s each. The quiet
// clusters' event-to-reconcile p99 must stay within 2x of its value without the flood.
//
// The limit is made the bottleneck on purpose: every reconcile does 100 ms of (simulated) I/O,
// every runtime runs 32 reconciles at once, and the process allows 16 at once
// (maxConcurrentReconciles), 160 reconciles/s: the flood alone wants 32 slots and keeps a backlog
// of hundreds of keys, so without fairness a quiet change would wait behind it; with it, each
// cluster with work waiting gets one slot per round (a quarter here, 40/s, for 10/s of demand). How many workers
// wait for a slot is sampled and printed, to show the limit was saturated. The flooded cluster is on one
// apiserver (remote-1), the quiet ones on another (remote-2).
//
// A change is a merge-patch of the label seq=<n> on one pod; t0 is taken just before the patch is
// sent, and the reconciler records when it first sees that seq (event-to-reconcile, as in
// bench:latency). A bare watch of each quiet namespace in the same process records when the event
// reached the process, which splits the latency into the apiserver's part and ours.
// The flood is sent from a child process, so its own work does not run on the event loop being
// measured. In a fleet the flooded cluster's control plane and its writers are other machines;
// here they share two cores with the quiet apiserver and with this process, and at equal priority
// their CPU use, not this process, sets the quiet clusters' p99. So that process and the flooded
// cluster's etcd and apiserver run at nice FAIR_NICE (19; their sessions' autogroups too, which
// is what counts where the kernel groups by session) and on the last CPU only (FAIR_PIN=0: on
// any); the quiet side and this process may use every CPU. FAIR_NICE=0 FAIR_PIN=0 measures the
// shared machine. Each window prints its event loop delay and how long the main thread waited
// for a CPU. Rounds alternate a flood and a quiet-only window of the same length, so both see the
// same load of the machine; medians over the rounds.
// Environment: FAIR_ROUNDS (3), FAIR_FLOOD (10000), FAIR_RESERVE, FAIR_NICE (19), FAIR_PIN (1).
// Run: npm run bench:fairness
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterClient } from '../src/client/cluster-client.js';
import type { Engine } from '../src/runtime/engine.js';
import { ENGINE } from '../src/runtime/tokens.js';
import {
  clientOf,
  createNamespace,
  createPods,
  int,
  kubeConfigOf,
  median,
  ms,
  percentile,
  printMachine,
  report,
  run,
  sleep,
  startRoot,
  withClusters,
} from './support.js';

const env = process.env;
const ROUNDS = Number(env.FAIR_ROUNDS ?? 3);
const FLOOD = Number(env.FAIR_FLOOD ?? 10_000);
const FLOOD_PODS = 500;
const FLOOD_IN_FLIGHT = 32;
const QUIET = 3;
const QUIET_PODS = 10;
const QUIET_RATE = 10; // per second, per quiet cluster
const RECONCILE_MS = 100;
const CONCURRENCY = 32;
const LIMIT = 16;
/** FAIR_RESERVE: slots kept from any one cluster (the module's default when unset). */
const RESERVE = env.FAIR_RESERVE === undefined ? undefined : Number(env.FAIR_RESERVE);
/** FAIR_NICE: the niceness of the flood's writer and of the flooded cluster's etcd and apiserver. */
/** Whether a command runs here (nice and taskset are coreutils and util-linux, not everywhere). */
const hasCommand = (command: string, ...args: string[]): boolean => {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const NICE = hasCommand('nice', 'true') ? Number(env.FAIR_NICE ?? 19) : 0;
/** FAIR_PIN (on; 0 for off): the flood's writer, etcd and apiserver also run on the last CPU only. */
const PIN_CPU =
  env.FAIR_PIN !== '0' && availableParallelism() >= 2 && hasCommand('taskset', '-c', '0', 'true')
    ? availableParallelism() - 1
    : undefined;

const FLOOD_NS = 'fair-flood';
const quietNs = (q: number): string => `fair-quiet-${q}`;

interface Change {
  sent: number;
  watched?: number;
  reconciled?: number;
}

/** Quiet changes by "<cluster>/<seq>". */
const changes = new Map<string, Change>();
/** Quiet changes not reconciled yet, by "<cluster>/<pod>", oldest first. Level-triggered: a
 * reconcile that sees seq n of a pod covers every earlier change of that pod too (the queue folds
 * changes of one key that arrive before its reconcile). */
const unreconciled = new Map<string, { seq: number; change: Change }[]>();
let folded = 0;

function reconciled(cluster: string, pod: string, seen: number, at: number): void {
  const list = unreconciled.get(`${cluster}/${pod}`);
  if (!list) return;
  while (list.length > 0 && list[0]!.seq <= seen) {
    const { seq: s, change } = list.shift()!;
    change.reconciled = at;
    if (s < seen) folded++;
  }
}
let seq = 0;
let floodReconciles = 0;

const seqOf = (obj: unknown): string | undefined =>
  (obj as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata?.labels?.seq;

/** A bare watch of one quiet namespace: when each change reached this process. */
async function bareWatch(
  client: ClusterClient,
  cluster: string,
  namespace: string,
  signal: AbortSignal,
): Promise<void> {
  const path = `/api/v1/namespaces/${namespace}/pods`;
  const list = await client.request<{ metadata: { resourceVersion: string } }>('GET', path, { query: { limit: 1 } });
  const events = await client.watch(
    path,
    { watch: 1, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 1800 },
    signal,
    600_000,
  );
  try {
    for await (const event of events) {
      const s = seqOf(event.object);
      const change = s === undefined ? undefined : changes.get(`${cluster}/${s}`);
      if (change && change.watched === undefined) change.watched = performance.now();
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

/** QUIET_RATE changes per second on every quiet cluster until `stop` aborts. */
async function quietLoad(client: ClusterClient, stop: AbortSignal, window: Change[]): Promise<number> {
  let errors = 0;
  const started = performance.now();
  const pending = new Set<Promise<void>>();
  for (let tick = 0; !stop.aborted; tick++) {
    const due = started + (tick * 1000) / QUIET_RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (stop.aborted) break;
    for (let q = 0; q < QUIET; q++) {
      const n = ++seq;
      const pod = `pod-${n % QUIET_PODS}`;
      const change: Change = { sent: performance.now() };
      changes.set(`quiet-${q}/${n}`, change);
      const key = `quiet-${q}/${pod}`;
      let list = unreconciled.get(key);
      if (!list) unreconciled.set(key, (list = []));
      list.push({ seq: n, change });
      window.push(change);
      const p = client
        .request('PATCH', `/api/v1/namespaces/${quietNs(q)}/pods/${pod}`, {
          body: { metadata: { labels: { seq: String(n) } } },
          contentType: 'application/merge-patch+json',
        })
        .then(
          () => undefined,
          () => void errors++,
        );
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  }
  await Promise.all(pending);
  return errors;
}

/** FLOOD changes on the flooded cluster, FLOOD_IN_FLIGHT at a time: as fast as it accepts them.
 * Runs in the flood process (see floodInChild). */
async function flood(client: ClusterClient): Promise<{ seconds: number; errors: number }> {
  let next = 0;
  let errors = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < FLOOD) {
      const n = next++;
      await client
        .request('PATCH', `/api/v1/namespaces/${FLOOD_NS}/pods/pod-${n % FLOOD_PODS}`, {
          body: { metadata: { labels: { flood: String(n) } } },
          contentType: 'application/merge-patch+json',
        })
        .catch(() => void errors++);
    }
  };
  await Promise.all(Array.from({ length: FLOOD_IN_FLIGHT }, lane));
  return { seconds: (performance.now() - started) / 1000, errors };
}

/** One flood, sent from a child process with its own client, at nice FAIR_NICE (with all its
 * threads: V8's GC helpers included). */
function floodInChild(kubeconfig: string): Promise<{ seconds: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const argv = [
      ...(PIN_CPU === undefined ? [] : ['taskset', '-c', String(PIN_CPU)]),
      ...(NICE ? ['nice', '-n', String(NICE)] : []),
      process.execPath,
      fileURLToPath(import.meta.url),
    ];
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, FAIR_FLOOD_CHILD: '1' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`flood process exited with ${code}`));
      try {
        resolve(JSON.parse(out) as { seconds: number; errors: number });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    // The kubeconfig goes on stdin, not in the environment or the arguments.
    child.stdin.end(kubeconfig);
  });
}

interface Latencies {
  endToEnd: number[];
  /** From the patch being sent to the event reaching this process (bare watch). */
  toProcess: number[];
  inProcess: number[];
  missed: number;
}

function latencies(window: Change[]): Latencies {
  const endToEnd: number[] = [];
  const toProcess: number[] = [];
  const inProcess: number[] = [];
  let missed = 0;
  for (const c of window) {
    if (c.reconciled === undefined) {
      missed++;
      continue;
    }
    endToEnd.push(c.reconciled - c.sent);
    if (c.watched === undefined) continue;
    toProcess.push(c.watched - c.sent);
    inProcess.push(c.reconciled - c.watched);
  }
  return { endToEnd, toProcess, inProcess, missed };
}

/** Samples how many workers wait for a slot, every 50 ms until stopped; resolves with the mean. */
function sampleWaiting(engine: Engine, stop: AbortSignal): Promise<{ flood: number; quiet: number }> {
  return (async () => {
    let n = 0;
    let flood = 0;
    let quiet = 0;
    while (!stop.aborted) {
      flood += engine.limiter.waiting('flood');
      for (let q = 0; q < QUIET; q++) quiet += engine.limiter.waiting(`quiet-${q}`);
      n++;
      await sleep(50);
    }
    return { flood: flood / Math.max(1, n), quiet: quiet / Math.max(1, n) };
  })();
}

/** Lowers a process of the flooded cluster to nice NICE. Each local etcd and apiserver leads a
 * session of its own, and with autogroup scheduling (Linux's default on desktops and many VMs)
 * the CPU is shared between sessions first and by nice only inside one: so the session's group is
 * reniced too, where the kernel allows it. */
function deprioritize(pid: number): boolean {
  if (PIN_CPU !== undefined)
    execFileSync('taskset', ['-a', '-p', '-c', String(PIN_CPU), String(pid)], { stdio: 'ignore' });
  setPriority(pid, NICE);
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(NICE));
    return true;
  } catch {
    return false; // no autogroup scheduling here, or not allowed: nice alone
  }
}

/** The main thread's time on a CPU and waiting for one (Linux schedstat, ns), from now until the
 * returned function is called: how much of a window the machine, not this process, took. */
function cpuWait(): () => string {
  const read = (): number[] => {
    try {
      return readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    } catch {
      return [];
    }
  };
  const start = read();
  const t0 = performance.now();
  return () => {
    const end = read();
    if (start.length < 2 || end.length < 2) return 'run-queue wait n/a';
    const window = performance.now() - t0;
    const ran = (end[0]! - start[0]!) / 1e6;
    const waited = (end[1]! - start[1]!) / 1e6;
    return `main thread on a CPU ${((ran / window) * 100).toFixed(1)} %, waiting for one ${((waited / window) * 100).toFixed(1)} % of the window`;
  };
}

const loopP99 = (h: ReturnType<typeof monitorEventLoopDelay>): string => ms(h.percentile(99) / 1e6);

const line = (label: string, l: Latencies): string =>
  `${label.padEnd(12)} ${int(l.endToEnd.length)} changes: change-to-reconcile p50 ${ms(percentile(l.endToEnd, 50))}, ` +
  `p99 ${ms(percentile(l.endToEnd, 99))}; change-to-event-in-process p99 ${ms(percentile(l.toProcess, 99))}; ` +
  `event-in-process-to-reconcile p50 ${ms(percentile(l.inProcess, 50))}, ` +
  `p99 ${ms(percentile(l.inProcess, 99))}; not reconciled ${l.missed}`;

// (changes folded into a later change of the same pod are counted at that later reconcile)

if (env.FAIR_FLOOD_CHILD === '1') {
  // The flood process: one flood, its result as JSON on stdout.
  let kubeconfig = '';
  for await (const chunk of process.stdin) kubeconfig += String(chunk);
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  const client = new ClusterClient({ name: 'flood', kubeConfig: kc });
  const result = await flood(client);
  await client.close();
  process.stdout.write(JSON.stringify(result));
} else {
  await main();
}

async function main(): Promise<void> {
  await run(async () => {
    printMachine('fairness: one flooded cluster, three quiet ones');
    console.log(
      `limit ${LIMIT} reconciles at once in the process, ${CONCURRENCY} per runtime, ${RECONCILE_MS} ms of I/O each; ` +
        `flood: ${int(FLOOD)} changes over ${FLOOD_PODS} pods, ${FLOOD_IN_FLIGHT} in flight (remote-1; writer, etcd and apiserver at nice ${NICE}${PIN_CPU === undefined ? '' : ` on CPU ${PIN_CPU}`}); ` +
        `quiet: ${QUIET} clusters x ${QUIET_RATE} changes/s (remote-2)`,
    );
    await withClusters(3, async (clusters) => {
      const floodAdmin = clientOf(clusters.get('remote-1'), 'flood-admin');
      const floodKubeconfig = clusters.get('remote-1').kubeconfig();
      if (NICE || PIN_CPU !== undefined) {
        const pids = Object.values(clusters.get('remote-1').pids).filter((pid): pid is number => pid !== undefined);
        const grouped = pids.map(deprioritize).every(Boolean);
        // Said, because without the groups' nice the flood's side is lowered much less (see above).
        console.log(
          `flooded cluster's etcd and apiserver: their session groups ${grouped ? 'at' : 'NOT at'} nice ${NICE}`,
        );
      }
      const quietAdmin = clientOf(clusters.get('remote-2'), 'quiet-admin');
      await createNamespace(floodAdmin, FLOOD_NS);
      await createPods(floodAdmin, FLOOD_NS, FLOOD_PODS, { parallel: 8 });
      for (let q = 0; q < QUIET; q++) {
        await createNamespace(quietAdmin, quietNs(q));
        await createPods(quietAdmin, quietNs(q), QUIET_PODS, { parallel: 4 });
      }

      const root = await startRoot({
        manage: kubeConfigOf(clusters.get('manage')),
        maxConcurrentReconciles: LIMIT,
        reservedReconciles: RESERVE,
        hooks: {
          namespaceOf: (cluster) => (cluster === 'flood' ? FLOOD_NS : quietNs(Number(cluster.split('-')[1]))),
          concurrency: CONCURRENCY,
          onReconcile: async (cluster, request, ctx) => {
            if (cluster === 'flood') floodReconciles++;
            else {
              const s = seqOf(ctx.cache.get(request.namespace, request.name));
              if (s !== undefined) reconciled(cluster, request.name, Number(s), performance.now());
            }
            await sleep(RECONCILE_MS, ctx.signal);
          },
        },
      });
      const engine = root.app.get<Engine>(ENGINE);
      const watching = new AbortController();
      const watchClient = clientOf(clusters.get('remote-2'), 'bare-watch');
      const watches: Promise<void>[] = [];
      try {
        await root.registry.spawn('flood', kubeConfigOf(clusters.get('remote-1')));
        for (let q = 0; q < QUIET; q++) await root.registry.spawn(`quiet-${q}`, kubeConfigOf(clusters.get('remote-2')));
        for (const name of root.registry.names()) await root.registry.waitForSync(name, { timeoutMs: 60_000 });
        for (let q = 0; q < QUIET; q++) watches.push(bareWatch(watchClient, `quiet-${q}`, quietNs(q), watching.signal));
        await sleep(2_000);

        // Warm-up: a short flood with quiet changes, not measured.
        {
          const stop = new AbortController();
          const quiet = quietLoad(quietAdmin, stop.signal, []);
          await floodInChild(floodKubeconfig);
          stop.abort();
          await quiet;
          await sleep(2_000);
        }

        const baseline: Latencies[] = [];
        const flooded: Latencies[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          // The flood first, timed; then a quiet-only window of the same length.
          const floodWindow: Change[] = [];
          const stopF = new AbortController();
          const quietF = quietLoad(quietAdmin, stopF.signal, floodWindow);
          const before = floodReconciles;
          const delayF = monitorEventLoopDelay({ resolution: 10 });
          delayF.enable();
          const waitF = cpuWait();
          const sampling = new AbortController();
          const waiting = sampleWaiting(engine, sampling.signal);
          const { seconds, errors } = await floodInChild(floodKubeconfig);
          stopF.abort();
          await quietF;
          sampling.abort();
          delayF.disable();
          const cpuF = waitF();
          const waited = await waiting;
          await sleep(2_000); // stragglers of both
          flooded.push(latencies(floodWindow));
          console.log(
            `round ${round}: flood of ${int(FLOOD)} changes in ${seconds.toFixed(1)} s (${int(FLOOD / seconds)}/s accepted, ` +
              `${errors} failed), ${int(floodReconciles - before)} flood reconciles; workers waiting for a slot, on average: ` +
              `flood ${waited.flood.toFixed(1)}, quiet ${waited.quiet.toFixed(2)}`,
          );
          console.log(`  ${line('with flood', flooded.at(-1)!)}; event loop delay p99 ${loopP99(delayF)}; ${cpuF}`);

          const quietWindow: Change[] = [];
          const stopQ = new AbortController();
          const delayQ = monitorEventLoopDelay({ resolution: 10 });
          delayQ.enable();
          const waitQ = cpuWait();
          const quietQ = quietLoad(quietAdmin, stopQ.signal, quietWindow);
          await sleep(seconds * 1000);
          stopQ.abort();
          await quietQ;
          delayQ.disable();
          const cpuQ = waitQ();
          await sleep(2_000);
          baseline.push(latencies(quietWindow));
          console.log(`  ${line('no flood', baseline.at(-1)!)}; event loop delay p99 ${loopP99(delayQ)}; ${cpuQ}`);
        }

        const p99 = (ls: Latencies[], part: Exclude<keyof Latencies, 'missed'>): number =>
          median(ls.map((l) => percentile(l[part], 99)));
        const base = p99(baseline, 'endToEnd');
        const withFlood = p99(flooded, 'endToEnd');
        const baseIn = p99(baseline, 'inProcess');
        const floodIn = p99(flooded, 'inProcess');
        const baseTo = p99(baseline, 'toProcess');
        const floodTo = p99(flooded, 'toProcess');
        const missed = [...baseline, ...flooded].reduce((n, l) => n + l.missed, 0);
        console.log(`quiet changes folded into a later change of the same pod before their reconcile: ${int(folded)}`);
        report({
          what: `quiet clusters' event-to-reconcile p99 during a flood of ${int(FLOOD)} changes on another cluster (median of ${ROUNDS} rounds)`,
          figure: `p99 ${ms(withFlood)} with the flood (rounds: ${flooded.map((l) => ms(percentile(l.endToEnd, 99))).join(', ')})`,
          floor: `p99 ${ms(base)} without it (rounds: ${baseline.map((l) => ms(percentile(l.endToEnd, 99))).join(', ')})`,
          ratio: `${(withFlood / base).toFixed(2)}x`,
          target:
            '<= 2x the p99 without the flood; every quiet change reconciled (or folded into a later one of its pod)',
          pass: withFlood <= 2 * base && missed === 0,
        });
        report({
          what: 'the same, from the change to the event reaching the process (bare watch): the apiserver and the machine',
          figure: `p99 ${ms(floodTo)} with the flood`,
          floor: `p99 ${ms(baseTo)} without it`,
          ratio: `${(floodTo / baseTo).toFixed(2)}x`,
          target: 'for reference',
        });
        report({
          what: 'the same, from the event reaching the process (bare watch) to the reconcile: the limiter and queue only',
          figure: `p99 ${ms(floodIn)} with the flood`,
          floor: `p99 ${ms(baseIn)} without it`,
          ratio: `${(floodIn / baseIn).toFixed(2)}x`,
          target: 'for reference',
        });
      } finally {
        watching.abort();
        await Promise.allSettled(watches);
        await root.close();
        for (const c of [floodAdmin, quietAdmin, watchClient]) await c.close();
      }
    });
  });
}
