// Shared by the benchmarks: local clusters that are always stopped, a root app with a Pod
// reconciler whose namespace and behaviour each bench chooses, pods in bulk, statistics, and the
// one report format (figure next to its floor, ratio, target, PASS/MISS).
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ClusterClient } from '../src/client/cluster-client.js';
import { KubeApiError } from '../src/client/errors.js';
import { resolveControlPlaneBinaries } from '../src/envtest/binaries.js';
import type { LocalCluster } from '../src/envtest/local-cluster.js';
import { LocalClusters } from '../src/envtest/local-clusters.js';

// The lean parts, apart so that a measurement process can load them without the rest.
export * from './stats.js';
export * from './root-app.js';

// ---------------------------------------------------------------------------------------------
// Machine, report

export function printMachine(title: string): void {
  const cpu = cpus();
  console.log(`# ${title}`);
  console.log(
    `machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown cpu'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform} ${process.arch}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} at start`,
  );
}

/** One figure against its floor measured in the same run. */
export interface Verdict {
  what: string;
  figure: string;
  floor: string;
  /** e.g. "1.23x floor" or "+2.1 ms"; omitted when a ratio means nothing for this figure. */
  ratio?: string;
  target: string;
  /** Undefined for a figure printed for reference only (INFO instead of PASS/MISS). */
  pass?: boolean;
}

const verdicts: Verdict[] = [];
const word = (v: Verdict): string => (v.pass === undefined ? 'INFO' : v.pass ? 'PASS' : 'MISS');

/** Prints the figure next to its floor, the ratio and the target, and a PASS/MISS line. */
export function report(v: Verdict): void {
  verdicts.push(v);
  console.log(`\n${v.what}`);
  console.log(`  figure: ${v.figure}`);
  console.log(`  floor:  ${v.floor}`);
  if (v.ratio !== undefined) console.log(`  ratio:  ${v.ratio}`);
  console.log(`  target: ${v.target}`);
  console.log(`${word(v)}: ${v.what}`);
}

/** The PASS/MISS lines again at the end, so a long run's verdicts are in one place. */
export function summary(): void {
  console.log('\nsummary:');
  for (const v of verdicts) console.log(`  ${word(v)}  ${v.what}  (${v.target})`);
}

// ---------------------------------------------------------------------------------------------
// Process resources: sockets, handles, listeners

/** File descriptors of this process that are sockets. */
export function openSockets(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

export const PROCESS_EVENTS = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'exit',
  'beforeExit',
  'uncaughtException',
  'unhandledRejection',
  'warning',
] as const;

export function processListeners(): Record<string, number> {
  return Object.fromEntries(PROCESS_EVENTS.map((e) => [e, process.listenerCount(e)]));
}

// ---------------------------------------------------------------------------------------------
// Local clusters

/** Starts `count` clusters (manage, remote-1, …) in a temp dir, runs `fn`, and stops them and
 * removes the dir whatever happens, also on SIGINT/SIGTERM and on a crash. */
export async function withClusters<T>(count: number, fn: (clusters: LocalClusters) => Promise<T>): Promise<T> {
  const binaries = await resolveControlPlaneBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'cr-bench-'));
  const started = performance.now();
  let clusters: LocalClusters | undefined;
  const killNow = (): void => {
    clusters?.killNow();
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping local clusters`);
    killNow();
    process.exit(130);
  };
  process.on('exit', killNow);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    clusters = await LocalClusters.up({ count, dir, binaries, readyTimeoutMs: 120_000 });
    console.log(
      `local clusters: ${clusters.clusters.map((c) => c.name).join(', ')} ` +
        `(each its own etcd + kube-apiserver on 127.0.0.1), up in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return await fn(clusters);
  } finally {
    await clusters?.down();
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', killNow);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function kubeConfigOf(cluster: LocalCluster, server?: string): KubeConfig {
  const text = cluster.kubeconfig();
  const kc = new KubeConfig();
  if (server === undefined) {
    kc.loadFromString(text);
  } else {
    const raw = JSON.parse(text) as { clusters: { cluster: { server: string } }[] };
    raw.clusters[0]!.cluster.server = server;
    kc.loadFromString(JSON.stringify(raw));
  }
  return kc;
}

export function clientOf(cluster: LocalCluster, name = cluster.name): ClusterClient {
  return new ClusterClient({ name, kubeConfig: kubeConfigOf(cluster) });
}

export async function createNamespace(client: ClusterClient, name: string): Promise<void> {
  try {
    await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
  }
}

export function benchPod(name: string, labels: Record<string, string> = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'clusterregistry-bench', ...labels } },
    // Never runs: there is no kubelet.
    spec: { containers: [{ name: 'main', image: 'registry.invalid/bench:1' }] },
  };
}

/** Creates pods `${prefix}-0` … in one namespace, `parallel` requests at a time. */
export async function createPods(
  client: ClusterClient,
  namespace: string,
  count: number,
  options: { prefix?: string; parallel?: number } = {},
): Promise<string[]> {
  const prefix = options.prefix ?? 'pod';
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++]!;
      await client.request('POST', `/api/v1/namespaces/${namespace}/pods`, { body: benchPod(name) });
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 32 }, lane));
  return names;
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers: the nastiest dead
 * cluster (no refusal, no reset, a TLS handshake that never completes). */
export async function blackHole(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    // Read and drop what the client sends, so its close is noticed and counted.
    socket.resume();
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A TCP forwarder in front of an apiserver that holds every chunk `delayMs` in each direction:
 * a slow cluster (a far network path), TLS and HTTP end to end. */
export async function slowProxy(
  target: { host: string; port: number },
  delayMs: number,
): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const delayed = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      const timer = setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, delayMs);
      timer.unref();
    });
    from.on('close', () => setTimeout(() => to.destroy(), delayMs).unref());
  };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    delayed(client, upstream);
    delayed(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Seconds of CPU (user + system) this process used since `since` (process.cpuUsage()). */
export function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/** CPU time (ms) the processes `pids` have used so far, from /proc/<pid>/stat (Linux, whose
 * USER_HZ is 100: 10 ms a tick); a process that is gone counts 0. */
export function processesCpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // After the command in parentheses (which may hold anything): utime is field 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* exited */
    }
  }
  return ticks * 10;
}

/** A counter of an apiserver's /metrics, summed over the series whose labels match `labels`. */
export async function apiserverCounter(
  client: ClusterClient,
  name: string,
  labels: Record<string, RegExp>,
): Promise<number> {
  return sumCounter(await metricsText(client), name, labels);
}

/** An apiserver's /metrics. It is text: read through the streaming GET, which does not parse JSON. */
async function metricsText(client: ClusterClient): Promise<string> {
  const { body } = await client.stream('/metrics', undefined, AbortSignal.timeout(30_000), 30_000);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Each sample of counter `name`: its labels and its value. */
function* samples(text: string, name: string): Generator<{ labels: Map<string, string>; value: number }> {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels = new Map<string, string>();
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels.set(m[1]!, m[2]!);
    yield { labels, value: Number(line.slice(close + 1).trim()) };
  }
}

export function sumCounter(text: string, name: string, labels: Record<string, RegExp>): number {
  let sum = 0;
  for (const sample of samples(text, name)) {
    if (Object.entries(labels).every(([k, re]) => re.test(sample.labels.get(k) ?? ''))) sum += sample.value;
  }
  return sum;
}

/** The requests an apiserver has served so far, by "VERB resource[/subresource] code", for the
 * resources `resource` matches (its own apiserver_request_total). */
export async function apiserverRequests(client: ClusterClient, resource: RegExp): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { labels, value } of samples(await metricsText(client), 'apiserver_request_total')) {
    const name = labels.get('resource') ?? '';
    if (!resource.test(name)) continue;
    const sub = labels.get('subresource');
    const key = `${labels.get('verb')} ${name}${sub ? `/${sub}` : ''} ${labels.get('code')}`;
    counts.set(key, (counts.get(key) ?? 0) + value);
  }
  return counts;
}

/** What `after` counts beyond `before`, per `per` units ("APPLY configmaps 201 1.00"), sorted;
 * what rounds to 0.00 (the bench's own few requests) is left out. */
export function requestsPer(before: Map<string, number>, after: Map<string, number>, per: number): string {
  const lines: string[] = [];
  for (const [key, value] of after) {
    const each = (value - (before.get(key) ?? 0)) / per;
    if (each >= 0.005) lines.push(`${key} ${each.toFixed(2)}`);
  }
  return lines.sort().join(', ') || 'none';
}

/** Runs `main`, prints the error and sets a failing exit code if it throws. */
export async function run(main: () => Promise<void>): Promise<void> {
  try {
    await main();
    summary();
  } catch (err) {
    console.error('\nbench failed:', err);
    process.exitCode = 1;
  }
}
