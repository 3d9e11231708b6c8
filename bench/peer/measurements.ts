// Each measurement of the comparison as separate processes, sides alternating (ts, go, ts, go …),
// every figure of every process kept in Samples; the table takes their medians.
import { spawnSync as runSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_ENV } from '../app-process.js';
import { median, percentile, slowProxy } from '../support.js';
import { runToEnd, start, type Child, type Command } from './child.js';
import { readTimes, type Result, type Side } from './protocol.js';

export interface Bench {
  gocr: string;
  /** Our side's entry point, dist/bench/peer-side.js. */
  peerSide: string;
  manage: string;
  /** remote-1, remote-2: runtime i of scale and latency uses remotes[i % 2], as on the peer. */
  remotes: string[];
  processes: number;
  quick: boolean;
  /** latency: patches per second over all namespaces. */
  rate: number;
  verbose: boolean;
  /** Our side sets the ready-made app's V8 flags (src/app/v8-flags.ts), as the image's app does. */
  appFlags: boolean;
  /** For the latency times files. */
  tmp: string;
}

/** Every figure of every process, by side and name. */
export class Samples {
  private readonly values = new Map<string, number[]>();

  add(side: Side, name: string, value: number): void {
    const key = `${side}:${name}`;
    this.values.set(key, [...(this.values.get(key) ?? []), value]);
  }

  all(side: Side, name: string): number[] {
    return this.values.get(`${side}:${name}`) ?? [];
  }

  median(side: Side, name: string): number {
    return median(this.all(side, name));
  }
}

// Namespaces and load, the peer's defaults where it has them.
export const SPAWN_NS = 'bench-mem-pods';
export const EMPTY_NS = 'bench-mem-empty';
export const PODS = 1_000;
export const SCALE_PREFIX = 'bench-scale-';
export const SCALE_RUNTIMES = 100;
export const SCALE_PODS = 10;
export const LAT_PREFIX = 'bench-lat-';
export const LAT_RUNTIMES = 10;
export const LAT_PODS = 50;
export const IDLE = 50;
/** spawnsync over a far path: every chunk held this long each way (a 20 ms round trip). */
export const FAR_DELAY_MS = 10;
export const CACHING = 10;

const TIMEOUT_MS = 10 * 60_000;

const num = (r: Result, key: string): number => {
  const v = r[key];
  if (typeof v !== 'number') throw new Error(`RESULT ${r.side} ${r.mode}: ${key} is not a number`);
  return v;
};
const nums = (r: Result, key: string): number[] => {
  const v = r[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number'))
    throw new Error(`RESULT ${r.side} ${r.mode}: ${key} is not a list of numbers`);
  return v as number[];
};
const snap = (r: Result, key: string): { heap: number; rss: number } => {
  const v = r[key] as { heap?: unknown; rss?: unknown } | undefined;
  if (typeof v?.heap !== 'number' || typeof v.rss !== 'number')
    throw new Error(`RESULT ${r.side} ${r.mode}: ${key} has no heap/rss`);
  return { heap: v.heap, rss: v.rss };
};

const f1 = (x: number): string => x.toFixed(1);
const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(2);

function command(b: Bench, side: Side, mode: string, args: string[], i: number): Command {
  const label = `${side} ${mode} #${i + 1}`;
  return side === 'ts'
    ? // Our side as the image runs it (its allocator setting).
      {
        side,
        label,
        file: process.execPath,
        args: [b.peerSide, mode, '-manage', b.manage, ...(b.appFlags ? [] : ['-no-app-flags', '1']), ...args],
        env: IMAGE_ENV,
      }
    : { side, label, file: b.gocr, args: [mode, ...args] };
}

/** N processes per side, ts then go, each one's RESULT lines of `mode` handed to record. */
async function alternate(b: Bench, mode: string, args: string[], record: (r: Result) => string): Promise<void> {
  for (let i = 0; i < b.processes; i++) {
    for (const side of ['ts', 'go'] as const) {
      const started = performance.now();
      const results = await runToEnd(command(b, side, mode, args, i), mode, {
        verbose: b.verbose,
        timeoutMs: TIMEOUT_MS,
      });
      const lines = results.map(record);
      console.log(`  ${side} ${mode} #${i + 1} (${f1((performance.now() - started) / 1000)} s): ${lines.join('; ')}`);
    }
  }
}

/** The load, created with the peer's setup mode: 1,000 pods and an empty namespace on remote-1;
 * scale and latency namespaces on the remote their runtime uses. */
export async function setup(b: Bench): Promise<void> {
  const specs = b.remotes.map((): string[] => []);
  specs[0]!.push(`${SPAWN_NS}=${PODS}`, `${EMPTY_NS}=0`);
  for (let i = 0; i < SCALE_RUNTIMES; i++) specs[i % b.remotes.length]!.push(`${SCALE_PREFIX}${i}=${SCALE_PODS}`);
  for (let i = 0; i < LAT_RUNTIMES; i++) specs[i % b.remotes.length]!.push(`${LAT_PREFIX}${i}=${LAT_PODS}`);
  await Promise.all(
    b.remotes.map((kubeconfig, r) =>
      runToEnd(
        {
          side: 'go',
          label: `go setup remote-${r + 1}`,
          file: b.gocr,
          args: ['setup', '-kubeconfigs', kubeconfig, '-spec', specs[r]!.join(';')],
        },
        // setup prints no RESULT line: only its exit status counts.
        undefined,
        { verbose: b.verbose, timeoutMs: TIMEOUT_MS },
      ),
    ),
  );
}

export async function spawnSync(b: Bench, s: Samples): Promise<void> {
  const args = ['-kubeconfigs', b.remotes[0]!, '-namespace', SPAWN_NS, '-pods', String(PODS)];
  args.push(...(b.quick ? ['-rounds', '3', '-warmup', '1'] : ['-rounds', '7', '-warmup', '2']));
  await alternate(b, 'spawnsync', args, (r) => {
    s.add(r.side, 'synced', num(r, 'medianSynced'));
    s.add(r.side, 'listFloor', num(r, 'medianFloor'));
    s.add(r.side, 'firstReconcile', num(r, 'medianFirstReconcile'));
    return `synced ${f1(num(r, 'medianSynced'))} ms, bare list ${f1(num(r, 'medianFloor'))} ms, first reconcile ${f1(num(r, 'medianFirstReconcile'))} ms`;
  });
}

/**
 * spawnsync with remote-1 behind a forwarder of this process that holds every chunk FAR_DELAY_MS
 * each way: a cluster in another region, where round trips before the first list and HTTP/2
 * flow-control windows count. TLS and HTTP stay end to end; both sides use the same forwarder.
 */
export async function spawnSyncFar(b: Bench, s: Samples): Promise<void> {
  const config = JSON.parse(readFileSync(b.remotes[0]!, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  const target = new URL(config.clusters[0]!.cluster.server);
  const proxy = await slowProxy({ host: target.hostname, port: Number(target.port) }, FAR_DELAY_MS);
  try {
    config.clusters[0]!.cluster.server = proxy.url;
    const kubeconfig = join(b.tmp, 'remote-1-far.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify(config), { mode: 0o600 });
    const args = ['-kubeconfigs', kubeconfig, '-namespace', SPAWN_NS, '-pods', String(PODS)];
    args.push(...(b.quick ? ['-rounds', '2', '-warmup', '1'] : ['-rounds', '5', '-warmup', '1']));
    await alternate(b, 'spawnsync', args, (r) => {
      s.add(r.side, 'farSynced', num(r, 'medianSynced'));
      s.add(r.side, 'farListFloor', num(r, 'medianFloor'));
      return `over a ${2 * FAR_DELAY_MS} ms round trip: synced ${f1(num(r, 'medianSynced'))} ms, bare list ${f1(num(r, 'medianFloor'))} ms`;
    });
  } finally {
    await proxy.close();
  }
}

export async function memory(b: Bench, s: Samples): Promise<void> {
  const args = ['-kubeconfigs', b.remotes[0]!, '-idle', String(IDLE), '-caching', String(CACHING)];
  args.push('-empty-ns', EMPTY_NS, '-pods-ns', SPAWN_NS, '-pods', String(PODS));
  await alternate(b, 'memory', args, (r) => {
    const kind = String(r.phase).startsWith('idle') ? 'idle' : 'caching';
    const before = snap(r, 'before');
    s.add(r.side, `${kind}HeapPer`, num(r, 'heapPer'));
    s.add(r.side, `${kind}RssPer`, num(r, 'rssPer'));
    s.add(r.side, `${kind}HeapBefore`, before.heap);
    s.add(r.side, `${kind}RssBefore`, before.rss);
    return `${String(r.phase)}: ${mb(num(r, 'heapPer'))} / ${mb(num(r, 'rssPer'))} MiB heap / RSS per runtime`;
  });
}

/** Ours: the ready-made app's process (rss-baseline) against a bare `node` as its floor. The
 * peer's figure is its scale process before any runtime (it has no app of its own). */
export async function rssBaseline(b: Bench, s: Samples): Promise<void> {
  for (let i = 0; i < b.processes; i++) {
    const [r] = await runToEnd(command(b, 'ts', 'rss-baseline', [], i), 'rss-baseline', {
      verbose: b.verbose,
      timeoutMs: TIMEOUT_MS,
    });
    s.add('ts', 'rssBaseline', num(r!, 'rss'));
    s.add('ts', 'rssAtReady', num(r!, 'rssAtReady'));
    const bare = runSync(
      process.execPath,
      ['--expose-gc', '-e', 'gc(); process.stdout.write(String(process.memoryUsage.rss()))'],
      { encoding: 'utf8', env: { ...process.env, ...IMAGE_ENV } },
    );
    if (bare.status !== 0) throw new Error(`bare node: ${bare.stderr}`);
    s.add('ts', 'rssNode', Number(bare.stdout));
    console.log(
      `  ts rss-baseline #${i + 1}: ready-made app ${mb(num(r!, 'rss'))} MiB after gc (${mb(num(r!, 'rssAtReady'))} at ready); ` +
        `bare node ${mb(Number(bare.stdout))} MiB`,
    );
  }
}

export async function scale(b: Bench, s: Samples): Promise<void> {
  const args = ['-kubeconfigs', b.remotes.join(','), '-runtimes', String(SCALE_RUNTIMES), '-ns-prefix', SCALE_PREFIX];
  args.push('-pods', String(SCALE_PODS), '-rounds', b.quick ? '1' : '3');
  await alternate(b, 'scale', args, (r) => {
    const base = snap(r, 'base');
    s.add(r.side, 'scaleSynced', median(nums(r, 'synced')));
    s.add(r.side, 'scaleFloor', median(nums(r, 'floor')));
    s.add(r.side, 'scaleRss', median(nums(r, 'rssGC')));
    s.add(r.side, 'scaleHeap', median(nums(r, 'heapGC')));
    s.add(r.side, 'scaleColdSynced', num(r, 'coldSynced'));
    s.add(r.side, 'baseRss', base.rss);
    s.add(r.side, 'baseHeap', base.heap);
    return (
      `${SCALE_RUNTIMES} synced ${f1(median(nums(r, 'synced')))} ms (cold ${f1(num(r, 'coldSynced'))}), ` +
      `bare lists ${f1(median(nums(r, 'floor')))} ms, RSS ${mb(median(nums(r, 'rssGC')))} MiB, before any runtime ${mb(base.rss)} MiB`
    );
  });
}

/** Both sides' runtimes and both sides' bare watches running at once, the peer's loadgen patching;
 * every time is CLOCK_MONOTONIC, so each side's "first seen" compares with loadgen's "sent". */
export async function latency(b: Bench, s: Samples): Promise<void> {
  const [warmS, measureS] = b.quick ? [2, 5] : [5, 20];
  const total = b.rate * (warmS + measureS);
  const first = b.rate * warmS;
  const common = ['-kubeconfigs', b.remotes.join(','), '-runtimes', String(LAT_RUNTIMES), '-ns-prefix', LAT_PREFIX];
  console.log(
    `  ${b.rate} patches/s for ${warmS} s warm-up + ${measureS} s measured, over ${LAT_RUNTIMES} namespaces of ${LAT_PODS} pods on ${b.remotes.length} apiservers`,
  );
  for (let i = 0; i < b.processes; i++) {
    // Labels must change every run: a patch to the value a pod already has makes no event.
    const seqs = ['-base', String(i * total), '-total', String(total)];
    const out = (name: string): string => join(b.tmp, `latency-${i}-${name}.bin`);
    const order: Side[] = i % 2 === 0 ? ['ts', 'go'] : ['go', 'ts'];
    const children: { side: Side; floor: boolean; child: Child }[] = [];
    try {
      for (const floor of [false, true]) {
        for (const side of order) {
          const mode = floor ? 'watchfloor' : 'latency';
          const child = start(command(b, side, mode, [...common, ...seqs, '-out', out(`${side}-${mode}`)], i), {
            verbose: b.verbose,
            timeoutMs: TIMEOUT_MS,
          });
          children.push({ side, floor, child });
          await child.ready;
        }
      }
      const load = command(b, 'go', 'loadgen', [...common, ...seqs, '-pods-per-ns', String(LAT_PODS)], i);
      load.args.push('-rate', String(b.rate), '-out', out('loadgen'));
      const [loaded] = await runToEnd(load, 'loadgen', { verbose: b.verbose, timeoutMs: TIMEOUT_MS });
      for (const c of children) c.child.stop();
      const results = await Promise.all(children.map((c) => c.child.done));
      const [sent] = readTimes(out('loadgen'), 2, total);
      const achieved = num(loaded!, 'sent') / num(loaded!, 'seconds');
      // A loadgen that fell behind means the apiservers (or the machine) were the bottleneck.
      const behind = achieved < 0.9 * b.rate ? ` (below the ${b.rate}/s asked: machine saturated)` : '';
      const parts = [`loadgen ${f1(achieved)}/s${behind}, ${num(loaded!, 'errors')} errors`];
      for (const side of order) {
        const seen = readTimes(out(`${side}-latency`), 1, total)[0]!;
        const watched = readTimes(out(`${side}-watchfloor`), 1, total)[0]!;
        const rec: number[] = [];
        const watch: number[] = [];
        const diff: number[] = [];
        for (let seq = first; seq < total; seq++) {
          const t0 = sent![seq]!;
          if (!t0) continue;
          if (seen[seq]) rec.push((seen[seq]! - t0) / 1e6);
          if (watched[seq]) watch.push((watched[seq]! - t0) / 1e6);
          if (seen[seq] && watched[seq]) diff.push((seen[seq]! - watched[seq]!) / 1e6);
        }
        for (const p of [50, 99]) {
          s.add(side, `rec${p}`, percentile(rec, p));
          s.add(side, `watch${p}`, percentile(watch, p));
          s.add(side, `diff${p}`, percentile(diff, p));
        }
        const r = results[children.findIndex((c) => c.side === side && !c.floor)]!.find((x) => x.mode === 'latency');
        if (r) s.add(side, 'latencyCpu', num(r, 'cpuSeconds'));
        parts.push(
          `${side}: reconcile saw ${rec.length}/${total - first}, p50 ${f1(percentile(rec, 50))} p99 ${f1(percentile(rec, 99))} ms; ` +
            `bare watch p50 ${f1(percentile(watch, 50))} p99 ${f1(percentile(watch, 99))} ms`,
        );
      }
      console.log(`  latency #${i + 1}: ${parts.join('; ')}`);
    } finally {
      // On a failure, the others are stopped too (stop is a no-op for one that has exited).
      for (const c of children) c.child.stop();
      await Promise.allSettled(children.map((c) => c.child.done));
    }
  }
}
