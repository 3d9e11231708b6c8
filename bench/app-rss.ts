// The ready-made app's process memory before any runtime, as a pod would show it: the real entry
// point (dist/src/main.js) as its own process with probes and metrics on, its RSS read from /proc
// once /readyz answers and again after it settles, the median of several starts. Floor: a bare
// `node` process started the same way.
// Run: npm run bench:app-rss [-- --starts N]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../src/envtest/binaries.js';
import { installCrds } from '../src/testing/register.js';
import { median, mib, printMachine, report, sleep, summary, withClusters } from './support.js';

const { values } = parseArgs({
  options: { starts: { type: 'string', default: '5' }, main: { type: 'string' } },
});
const STARTS = Number(values.starts);
const SETTLE_MS = 5_000;

function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

/** One process: RSS once ready and after settling. */
async function measure(args: string[], env: NodeJS.ProcessEnv, ready: (out: string) => Promise<boolean>) {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 60_000;
  while (!(await ready(out))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`not ready:\n${out.slice(-2000)}`);
    await sleep(50);
  }
  const atReady = rss(child.pid!);
  await sleep(SETTLE_MS);
  const settled = rss(child.pid!);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return { atReady, settled };
}

printMachine('bench:app-rss: the ready-made app before any runtime');
await withClusters(1, async (clusters) => {
  const dir = clusters.dir;
  const manage = join(dir, 'manage.kubeconfig');
  writeFileSync(manage, clusters.get('manage').kubeconfig());
  // The app's manage reconcilers watch RemoteClusters: without the CRD it is never ready.
  const kc = new KubeConfig();
  kc.loadFromFile(manage);
  await installCrds(kc);
  const env = {
    PATH: process.env.PATH ?? '',
    KUBECONFIG: manage,
    PROBE_PORT: '0',
    METRICS_PORT: '0',
    BIND_ADDRESS: '127.0.0.1',
    LEADER_ELECTION: 'false',
    LOG_LEVEL: 'log',
    // To try V8 and allocator settings: NODE_OPTIONS=... MALLOC_ARENA_MAX=... npm run bench:app-rss
    ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}),
    ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
  };
  const app: { atReady: number; settled: number }[] = [];
  const bare: { atReady: number; settled: number }[] = [];
  for (let i = 0; i < STARTS; i++) {
    app.push(
      await measure([values.main ?? join(packageRoot(), 'dist', 'src', 'main.js')], env, async (out) => {
        const port = /probes on :(\d+)/.exec(out)?.[1];
        return port !== undefined && (await status(`http://127.0.0.1:${port}/readyz`)) === 200;
      }),
    );
    bare.push(
      await measure(['-e', 'console.log("up"); setInterval(() => {}, 1000)'], env, (out) =>
        Promise.resolve(out.includes('up')),
      ),
    );
  }
  const m = (xs: number[]): string => `${mib(median(xs))} (min ${mib(Math.min(...xs))}, max ${mib(Math.max(...xs))})`;
  report({
    what: `process RSS of the ready-made app once /readyz answers, then ${SETTLE_MS / 1000} s later (median of ${STARTS})`,
    figure: `${m(app.map((a) => a.atReady))}; settled ${m(app.map((a) => a.settled))}`,
    floor: `bare node: ${m(bare.map((b) => b.settled))}`,
    target: '≤ 80 MiB',
    pass: median(app.map((a) => a.settled)) <= 80 * 2 ** 20,
  });
});
summary();
