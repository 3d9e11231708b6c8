// Endurance: three sharded replicas of the app (bench/replica-app.js, as processes) for
// SOAK_MINUTES, with pod churn in three remote clusters, a RemoteCluster spawned and another one
// stopped every SOAK_SPAWN_EVERY_S, and a replica SIGKILLed (and a new one started in its place)
// every SOAK_KILL_EVERY_S. Replica 0 is never killed: it is the one measured.
//   - Nothing missed: each replica's SoakSummary reconciler keeps a ConfigMap soak-<cluster> in the
//     manage cluster with the `gen` label of every pod it sees, level-triggered. At the end, once
//     the churn stops, every RemoteCluster's ConfigMap must equal its cluster's pods.
//   - Fencing: every reconcile is recorded (replica, cluster, start, end); no cluster is ever
//     reconciled by two replicas at overlapping times (a killed replica's open ones end at the kill).
//   - Leaks: replica 0's heap after gc (slope of a linear fit after the warm-up), open sockets,
//     active handles and timers, process listeners, sampled every SOAK_SAMPLE_S.
//   - Failover after each kill, and Lease writes per second on the manage apiserver.
// Every sample is kept in samples.json beside the records (the folder is printed at the start).
// Environment: SOAK_MINUTES (30), SOAK_CHURN (pod changes/s per remote cluster, 3),
// SOAK_SPAWN_EVERY_S (10), SOAK_KILL_EVERY_S (300), SOAK_SAMPLE_S (30).
// Run: npm run bench:soak
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterClient } from '../src/client/cluster-client.js';
import { KubeApiError } from '../src/client/errors.js';
import { packageRoot } from '../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../src/envtest/crd.js';
import { fetchText } from '../src/envtest/http.js';
import type { LocalClusters } from '../src/envtest/local-clusters.js';
import { API_VERSION, PLURAL, type RemoteCluster } from '../src/remotecluster/types.js';
import { describeFloors, floorGrowth, growthPerHour, slope } from './soak-analysis.js';
import {
  apiserverCounter,
  benchPod,
  clientOf,
  createNamespace,
  int,
  kubeConfigOf,
  mib,
  ms,
  printMachine,
  report,
  run,
  sleep,
  withClusters,
} from './support.js';

const env = process.env;
const MINUTES = Number(env.SOAK_MINUTES ?? 30);
const CHURN = Number(env.SOAK_CHURN ?? 3);
const SPAWN_EVERY_S = Number(env.SOAK_SPAWN_EVERY_S ?? 10);
const KILL_EVERY_S = Number(env.SOAK_KILL_EVERY_S ?? 300);
const SAMPLE_S = Number(env.SOAK_SAMPLE_S ?? 30);
const REMOTES = 3;
const NS = 'soak';
const SHARDS = 16;
const STATIC_PER_REMOTE = 4;
const DYNAMIC = 3;
const SETTLE_TIMEOUT_MS = 180_000;
const SCRIPT = join(packageRoot(), 'dist', 'bench', 'replica-app.js');
const dir = mkdtempSync(join(tmpdir(), 'soak-'));

// ---------------------------------------------------------------------------------------------
// Replicas

interface Stats {
  at: number;
  heap: number;
  rss: number;
  sockets: number;
  resources: Record<string, number>;
  listeners: Record<string, number>;
  /** Live timers, unref'd ones included. */
  timers: number;
  /** Cluster runtimes it runs. */
  runtimes: number;
  /** Shards whose Lease it holds and runs. */
  shards: number;
  /** Live timers by where they were created (file:line). */
  timerOrigins: Record<string, number>;
}

class Replica {
  readonly child: ChildProcess;
  private tail = '';
  private port?: number;
  killedAt?: number;
  private waiter?: (stats: Stats) => void;

  constructor(
    readonly name: string,
    manageKubeconfig: string,
  ) {
    const kubeconfig = join(dir, `${name}.kubeconfig`);
    writeFileSync(kubeconfig, manageKubeconfig, { mode: 0o600 });
    const log = join(dir, `${name}.log`);
    this.child = spawn(process.execPath, [SCRIPT], {
      env: {
        PATH: env.PATH ?? '',
        HOME: env.HOME ?? '',
        KUBECONFIG: kubeconfig,
        POD_NAMESPACE: NS,
        POD_NAME: name,
        PROBE_PORT: '0',
        METRICS_PORT: '0',
        BIND_ADDRESS: '127.0.0.1',
        SHARDS: String(SHARDS),
        REMOTECLUSTER_SELECTOR: 'soak=yes',
        EXAMPLE_RECONCILERS: 'false',
        RECORD_FILE: this.records,
        RECORD_NAMESPACE: NS,
        RECONCILE_MS: '5',
        SUMMARY_NAMESPACE: NS,
        LOG_LEVEL: 'log',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString();
      appendFileSync(log, text);
      this.tail = (this.tail + text).slice(-20_000);
      if (this.port === undefined) {
        const m = /probes on :(\d+)/.exec(this.tail);
        if (m) this.port = Number(m[1]);
      }
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.child.on('message', (message: { type?: string } & Omit<Stats, 'at'>) => {
      if (message.type === 'stats') this.waiter?.({ ...message, at: Date.now() });
    });
  }

  get records(): string {
    return join(dir, `${this.name}.jsonl`);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async ready(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.port === undefined) {
      if (Date.now() > deadline || !this.alive) throw new Error(`${this.name} did not start:\n${this.tail}`);
      await sleep(100);
    }
  }

  /** The clusters this replica runs and their phase, from its /readyz. */
  async clusters(): Promise<Record<string, { phase: string }>> {
    if (this.port === undefined) return {};
    const res = await fetchText(`http://127.0.0.1:${this.port}/readyz`, { timeoutMs: 10_000 }).catch(() => undefined);
    if (!res) return {};
    const body = JSON.parse(res.body) as Record<
      string,
      { clusters?: { clusters?: Record<string, { phase: string }> } }
    >;
    return (body.info ?? body.error)?.clusters?.clusters ?? {};
  }

  stats(): Promise<Stats> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no stats within 60 s`)), 60_000);
      this.waiter = (stats) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(stats);
      };
      this.child.send({ type: 'stats' });
    });
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.alive) return Promise.resolve();
    if (signal === 'SIGKILL') this.killedAt = performance.timeOrigin + performance.now();
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    return exited;
  }
}

// ---------------------------------------------------------------------------------------------
// The API: pods in the remote clusters, RemoteClusters and summaries in the manage cluster

interface PodTruth {
  gen: number;
}

/** Pod churn in one remote cluster: creates, updates (gen + 1) and deletes at `rate` per second. */
async function churn(client: ClusterClient, rate: number, stop: AbortSignal, counts: Record<string, number>) {
  const pods = new Map<string, PodTruth>();
  let next = 0;
  const path = `/api/v1/namespaces/${NS}/pods`;
  const create = async (): Promise<void> => {
    const name = `pod-${next++}`;
    await client.request('POST', path, { body: benchPod(name, { gen: '0' }) });
    pods.set(name, { gen: 0 });
    counts.create = (counts.create ?? 0) + 1;
  };
  for (let i = 0; i < 10; i++) await create();
  const started = performance.now();
  for (let tick = 0; !stop.aborted; tick++) {
    const wait = started + (tick * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    if (stop.aborted) break;
    const names = [...pods.keys()];
    const pick = names[Math.floor(Math.random() * names.length)];
    const r = Math.random();
    try {
      if (names.length < 5 || (r < 0.2 && names.length < 20)) await create();
      else if (r < 0.4 && pick) {
        await client.request('DELETE', `${path}/${pick}`, { query: { gracePeriodSeconds: 0 } });
        pods.delete(pick);
        counts.delete = (counts.delete ?? 0) + 1;
      } else if (pick) {
        const gen = pods.get(pick)!.gen + 1;
        await client.request('PATCH', `${path}/${pick}`, {
          body: { metadata: { labels: { gen: String(gen) } } },
          contentType: 'application/merge-patch+json',
        });
        pods.get(pick)!.gen = gen;
        counts.update = (counts.update ?? 0) + 1;
      }
    } catch (err) {
      counts.failed = (counts.failed ?? 0) + 1;
      if (!(err instanceof KubeApiError)) throw err;
    }
  }
}

async function createRemoteCluster(manage: ClusterClient, name: string, remote: number): Promise<void> {
  await manage.request('POST', `/apis/${API_VERSION}/${PLURAL}`, {
    body: {
      apiVersion: API_VERSION,
      kind: 'RemoteCluster',
      metadata: { name, labels: { soak: 'yes' } },
      spec: { kubeConfig: { secretRef: { namespace: NS, name: `remote-${remote}`, key: 'kubeconfig' } } },
    },
  });
}

async function remoteClusters(manage: ClusterClient): Promise<RemoteCluster[]> {
  const list = await manage.request<{ items: RemoteCluster[] }>('GET', `/apis/${API_VERSION}/${PLURAL}`, {
    query: { labelSelector: 'soak=yes' },
  });
  return list.items;
}

/** What each live RemoteCluster's summary says against its cluster's pods: the ones that differ. */
async function mismatches(manage: ClusterClient, remotes: ClusterClient[]): Promise<string[]> {
  const truth = await Promise.all(
    remotes.map(async (r) => {
      const list = await r.request<{ items: { metadata: { name: string; labels?: Record<string, string> } }[] }>(
        'GET',
        `/api/v1/namespaces/${NS}/pods`,
      );
      return Object.fromEntries(list.items.map((p) => [p.metadata.name, p.metadata.labels?.gen ?? '']));
    }),
  );
  const out: string[] = [];
  for (const rc of await remoteClusters(manage)) {
    if (rc.metadata?.deletionTimestamp) continue;
    const name = rc.metadata!.name!;
    const remote = Number(/remote-(\d+)/.exec(rc.spec.kubeConfig.secretRef.name)![1]) - 1;
    const expected = truth[remote]!;
    let data: Record<string, string> = {};
    try {
      const cm = await manage.request<{ data?: Record<string, string> }>(
        'GET',
        `/api/v1/namespaces/${NS}/configmaps/soak-${name}`,
      );
      data = cm.data ?? {};
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      out.push(`${name}: no summary yet`);
      continue;
    }
    const keys = new Set([...Object.keys(expected), ...Object.keys(data)]);
    const wrong = [...keys].filter((k) => expected[k] !== data[k]);
    if (wrong.length)
      out.push(
        `${name}: ${wrong.length} pods differ (e.g. ${wrong[0]}: saw ${data[wrong[0]!]} is ${expected[wrong[0]!]})`,
      );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fencing and statistics

interface Interval {
  replica: string;
  cluster: string;
  start: number;
  end: number;
}

function intervals(replicas: Replica[]): Interval[] {
  const out: Interval[] = [];
  for (const replica of replicas) {
    if (!existsSync(replica.records)) continue;
    const open = new Map<number, { c: string; t: number }>();
    for (const line of readFileSync(replica.records, 'utf8').split('\n')) {
      if (!line) continue;
      const rec = JSON.parse(line) as { e: 'S' | 'E'; c: string; i: number; t: number };
      if (rec.e === 'S') open.set(rec.i, { c: rec.c, t: rec.t });
      else {
        const s = open.get(rec.i);
        if (s) out.push({ replica: replica.name, cluster: s.c, start: s.t, end: rec.t });
        open.delete(rec.i);
      }
    }
    for (const { c, t } of open.values()) {
      out.push({ replica: replica.name, cluster: c, start: t, end: replica.killedAt ?? Number.POSITIVE_INFINITY });
    }
  }
  return out;
}

function overlaps(all: Interval[]): { overlaps: string[]; handovers: number } {
  const found: string[] = [];
  let handovers = 0;
  const byCluster = new Map<string, Interval[]>();
  for (const i of all) {
    let list = byCluster.get(i.cluster);
    if (!list) byCluster.set(i.cluster, (list = []));
    list.push(i);
  }
  for (const [cluster, list] of byCluster) {
    list.sort((a, b) => a.start - b.start);
    const lastEnd = new Map<string, number>();
    let previous: string | undefined;
    for (const i of list) {
      for (const [replica, end] of lastEnd) {
        if (replica !== i.replica && i.start < end)
          found.push(`${cluster}: ${i.replica} at ${i.start} while ${replica} until ${end}`);
      }
      if (previous !== undefined && previous !== i.replica) handovers++;
      previous = i.replica;
      lastEnd.set(i.replica, Math.max(lastEnd.get(i.replica) ?? 0, i.end));
    }
  }
  return { overlaps: found, handovers };
}

const counts = (r: Record<string, number>): string =>
  Object.entries(r)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

// ---------------------------------------------------------------------------------------------

await run(async () => {
  printMachine(`soak: ${MINUTES} minutes, three sharded replicas`);
  console.log(
    `pod churn ${CHURN}/s in each of ${REMOTES} remote clusters; a RemoteCluster spawned and one stopped every ` +
      `${SPAWN_EVERY_S} s; a replica SIGKILLed every ${KILL_EVERY_S} s (replica-0, measured, never); ${SHARDS} shards; ` +
      `records in ${dir}`,
  );
  await withClusters(1 + REMOTES, async (clusters: LocalClusters) => {
    const manageCluster = clusters.get('manage');
    const manage = clientOf(manageCluster, 'soak-manage');
    const remotes = Array.from({ length: REMOTES }, (_, r) =>
      clientOf(clusters.get(`remote-${r + 1}`), `soak-remote-${r + 1}`),
    );
    for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml')))
      await installCrd(kubeConfigOf(manageCluster), crd);
    await createNamespace(manage, NS);
    for (let r = 0; r < REMOTES; r++) {
      await createNamespace(remotes[r]!, NS);
      await manage.request('POST', `/api/v1/namespaces/${NS}/secrets`, {
        body: {
          metadata: { name: `remote-${r + 1}` },
          stringData: { kubeconfig: clusters.get(`remote-${r + 1}`).kubeconfig() },
        },
      });
    }
    const manageKubeconfig = manageCluster.kubeconfig();

    const stop = new AbortController();
    const churnCounts: Record<string, number> = {};
    const churns = remotes.map((r) => churn(r, CHURN, stop.signal, churnCounts));
    for (let r = 1; r <= REMOTES; r++) {
      for (let k = 0; k < STATIC_PER_REMOTE; k++) await createRemoteCluster(manage, `static-${r}-${k}`, r);
    }

    const all: Replica[] = [];
    const live: (Replica | undefined)[] = [];
    const startReplica = async (slot: number, generation: number): Promise<Replica> => {
      const replica = new Replica(`replica-${slot}-g${generation}`, manageKubeconfig);
      all.push(replica);
      live[slot] = replica;
      await replica.ready();
      return replica;
    };
    const measured = await startReplica(0, 0);
    await startReplica(1, 0);
    await startReplica(2, 0);
    const leaseWritesAt = async (): Promise<number> =>
      apiserverCounter(manage, 'apiserver_request_total', { resource: /^leases$/, verb: /^(PUT|POST)$/ });

    // Every live RemoteCluster owned by a live replica that runs it synced.
    const settledOwners = async (): Promise<boolean> => {
      const names = new Set(live.filter((r) => r?.alive).map((r) => r!.name));
      const views = new Map<string, Record<string, { phase: string }>>();
      for (const r of live) if (r?.alive) views.set(r.name, await r.clusters());
      for (const rc of await remoteClusters(manage)) {
        if (rc.metadata?.deletionTimestamp) continue;
        const owner = rc.status?.owner;
        if (!owner || !names.has(owner)) return false;
        if (views.get(owner)?.[rc.metadata!.name!]?.phase !== 'synced') return false;
      }
      return true;
    };

    const samples: Stats[] = [];
    const failovers: number[] = [];
    const started = Date.now();
    const end = started + MINUTES * 60_000;
    let dynamic = 0;
    const dynamics: string[] = [];
    let nextSpawn = started + SPAWN_EVERY_S * 1000;
    let nextKill = started + KILL_EVERY_S * 1000;
    let nextSample = started;
    let victim = 1;
    const generations = [0, 0, 0];
    let writesBefore = NaN;
    let writesFrom = 0;
    let failoverFrom: number | undefined;
    try {
      while (Date.now() < end) {
        const now = Date.now();
        if (now >= nextSample) {
          nextSample += SAMPLE_S * 1000;
          const s = await measured.stats();
          samples.push(s);
          if (Number.isNaN(writesBefore) && now - started >= 60_000) {
            writesBefore = await leaseWritesAt();
            writesFrom = Date.now();
          }
          console.log(
            `${((now - started) / 60_000).toFixed(1).padStart(5)} min: replica-0 heap ${mib(s.heap)} rss ${mib(s.rss)} ` +
              `sockets ${s.sockets} timers ${s.timers} runtimes ${s.runtimes} shards ${s.shards}; churn ${counts(churnCounts)}; dynamic clusters ${dynamic}`,
          );
        }
        if (now >= nextSpawn) {
          nextSpawn += SPAWN_EVERY_S * 1000;
          const name = `dyn-${++dynamic}`;
          await createRemoteCluster(manage, name, (dynamic % REMOTES) + 1);
          dynamics.push(name);
          if (dynamics.length > DYNAMIC) {
            const gone = dynamics.shift()!;
            await manage.request('DELETE', `/apis/${API_VERSION}/${PLURAL}/${gone}`).catch(() => undefined);
          }
        }
        if (now >= nextKill) {
          nextKill += KILL_EVERY_S * 1000;
          const replica = live[victim]!;
          const killedAt = Date.now();
          await replica.kill('SIGKILL');
          await startReplica(victim, ++generations[victim]!);
          failoverFrom = killedAt;
          console.log(`killed ${replica.name}; started replica-${victim}-g${generations[victim]}`);
          victim = victim === 1 ? 2 : 1;
        }
        if (failoverFrom !== undefined && (await settledOwners())) {
          failovers.push(Date.now() - failoverFrom);
          console.log(`  every cluster synced on a live owner ${ms(failovers.at(-1)!)} after the kill`);
          failoverFrom = undefined;
        }
        await sleep(500);
      }
      const writesAfter = await leaseWritesAt();
      const leaseRate = (writesAfter - writesBefore) / ((Date.now() - writesFrom) / 1000);

      // The end: no more changes; every summary must catch up with its cluster.
      stop.abort();
      await Promise.all(churns);
      const settleStart = Date.now();
      let wrong: string[] = [];
      for (;;) {
        wrong = await mismatches(manage, remotes);
        if (wrong.length === 0 || Date.now() - settleStart > SETTLE_TIMEOUT_MS) break;
        await sleep(2_000);
      }
      const caughtUp = Date.now() - settleStart;
      const last = await measured.stats();
      samples.push(last);
      // Every sample (timer origins included) for a look afterwards.
      writeFileSync(join(dir, 'samples.json'), JSON.stringify({ started, samples }));

      for (const r of live) await r?.kill('SIGTERM');
      const recorded = intervals(all);
      const fence = overlaps(recorded);

      // Heap, sockets and timers after the first sixth of the run (warm-up: code loaded, caches
      // filled), at a constant number of runtimes: shards move with every kill, so replica-0 runs
      // between 1 and 8 runtimes, and a fit over time alone reads fewer runtimes as a shrinking heap.
      const warm = samples.filter((s) => s.at - started >= (MINUTES * 60_000) / 6);
      const hours = warm.map((s) => (s.at - started) / 3_600_000);
      const runtimes = warm.map((s) => s.runtimes);
      const heapFit = growthPerHour(
        hours,
        runtimes,
        warm.map((s) => s.heap / 2 ** 20),
      );
      const fit = warm.length >= 3 ? heapFit.perHour : NaN;
      const first = warm[0] ?? samples[0]!;
      const grown = (a: Record<string, number>, b: Record<string, number>): string[] =>
        [...new Set([...Object.keys(a), ...Object.keys(b)])]
          .filter((k) => (b[k] ?? 0) > (a[k] ?? 0))
          .map((k) => `${k} ${a[k] ?? 0}->${b[k] ?? 0}`);

      console.log(
        `\nran ${((Date.now() - started) / 60_000).toFixed(1)} min; churn ${counts(churnCounts)}; ${dynamic} RemoteClusters spawned ` +
          `(and as many stopped); ${failovers.length} replicas killed; ${int(recorded.length)} reconciles recorded; ` +
          `summaries caught up ${ms(caughtUp)} after the churn stopped`,
      );
      report({
        what: 'nothing missed: every RemoteCluster’s summary equals its cluster’s pods once the churn stops',
        figure:
          wrong.length === 0
            ? `all equal, ${ms(caughtUp)} after the churn stopped`
            : `${wrong.length} differ: ${wrong.slice(0, 5).join('; ')}`,
        floor: 'the pods as the API lists them at the end',
        target: `equal within ${SETTLE_TIMEOUT_MS / 1000} s`,
        pass: wrong.length === 0,
      });
      report({
        what: 'fencing over the whole run: no cluster reconciled by two replicas at overlapping times',
        figure: `${fence.overlaps.length} overlaps in ${int(recorded.length)} reconciles (${fence.handovers} handovers)`,
        floor: '0',
        target: '0 overlaps',
        pass: fence.overlaps.length === 0,
      });
      report({
        what: `replica-0 heap after gc, linear fit (time and runtimes) over the last ${((MINUTES * 5) / 6).toFixed(0)} minutes (${warm.length} samples)`,
        figure:
          `${fit >= 0 ? '+' : ''}${fit.toFixed(2)} MiB/hour at a constant number of runtimes (${heapFit.perRuntime.toFixed(2)} MiB per runtime); ` +
          `over time alone ${slope(
            hours,
            warm.map((s) => s.heap / 2 ** 20),
          ).toFixed(2)} MiB/hour; ${mib(first.heap)} -> ${mib(last.heap)}`,
        floor: `samples: ${warm.map((s) => (s.heap / 2 ** 20).toFixed(1)).join(', ')}`,
        // One-sided: a leak grows. A heap that falls (memory given back, e.g. V8 flushing the
        // bytecode of functions not run for a while) is not what this looks for; it is printed.
        target: 'no growth: slope < +2 MiB/hour',
        pass: fit < 2,
      });
      const sockets = growthPerHour(
        hours,
        runtimes,
        warm.map((s) => s.sockets),
      );
      const timers = growthPerHour(
        hours,
        runtimes,
        warm.map((s) => s.timers),
      );
      // A leak raises the lowest count seen in a given state (runtimes run, shards held: each held
      // shard has a renew deadline); timers of a handover (backoffs, grace periods) raise single
      // samples only.
      const states = warm.map((s) => `${s.runtimes} runtimes/${s.shards} shards`);
      const socketFloors = floorGrowth(
        hours,
        states,
        warm.map((s) => s.sockets),
      );
      const timerFloors = floorGrowth(
        hours,
        states,
        warm.map((s) => s.timers),
      );
      // Whose timers: the same comparison per place of creation, for every place whose lowest
      // count rose (the first suspect of a MISS above).
      const origins = [...new Set(warm.flatMap((s) => Object.keys(s.timerOrigins)))].sort();
      for (const origin of origins) {
        const f = floorGrowth(
          hours,
          states,
          warm.map((s) => s.timerOrigins[origin] ?? 0),
        );
        if (f.perHour > 0) console.log(`timers from ${origin}: ${describeFloors(f)}`);
      }
      console.log(
        `timers by origin at the end: ${Object.entries(last.timerOrigins)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
      const listenerGrowth = grown(first.listeners, last.listeners);
      const series = (f: (s: Stats) => number): string => warm.map((s) => `${f(s)}`).join(' ');
      console.log(`replica-0 runtimes: ${series((s) => s.runtimes)}`);
      console.log(`replica-0 shards:   ${series((s) => s.shards)}`);
      console.log(`replica-0 sockets:  ${series((s) => s.sockets)}`);
      console.log(`replica-0 timers:   ${series((s) => s.timers)}`);
      report({
        what: "replica-0 sockets and timers (unref'd included) at a constant number of runtimes and shards, process listeners",
        figure:
          `lowest count at equal runtimes and shards held, last half against first: sockets ${describeFloors(socketFloors)}, timers ${describeFloors(timerFloors)}; ` +
          `linear fit: sockets ${sockets.perHour >= 0 ? '+' : ''}${sockets.perHour.toFixed(2)}/hour (${sockets.perRuntime.toFixed(2)} per runtime), ` +
          `timers ${timers.perHour >= 0 ? '+' : ''}${timers.perHour.toFixed(2)}/hour (${timers.perRuntime.toFixed(2)} per runtime); ` +
          `end: ${last.sockets} sockets, ${last.timers} timers, ${last.runtimes} runtimes, listeners ${counts(last.listeners)}`,
        floor: `after the warm-up: ${first.sockets} sockets, ${first.timers} timers, ${first.runtimes} runtimes, listeners ${counts(first.listeners)}`,
        ratio: `listeners grown: ${listenerGrowth.join(', ') || 'none'}`,
        target:
          'no growth: lowest counts at equal runtimes and shards up by under 1 socket and 5 timers per hour, listeners equal',
        pass:
          socketFloors.perHour < 1 &&
          timerFloors.perHour < 5 &&
          socketFloors.compared > 0 &&
          listenerGrowth.length === 0,
      });
      report({
        what: 'failover after each SIGKILL: until every RemoteCluster is synced on a live owner',
        figure: failovers.map(ms).join(', ') || 'no kill',
        floor: 'lease duration 15 s (default timings)',
        target: 'lease duration + one sync, with slack: < 30 s',
        pass: failovers.every((f) => f < 30_000),
      });
      report({
        what: `Lease writes per second on the manage apiserver over the run (3 replicas, ${SHARDS} shards, retry 2 s)`,
        figure: `${leaseRate.toFixed(1)}/s`,
        floor: `(3 + ${SHARDS}) / 2 s = ${((3 + SHARDS) / 2).toFixed(1)}/s`,
        target: 'for reference',
      });
    } finally {
      stop.abort();
      await Promise.allSettled(churns);
      for (const r of all) await r.kill('SIGKILL');
      await manage.close();
      for (const r of remotes) await r.close();
    }
  });
});
