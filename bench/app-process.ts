// The ready-made app as a pod runs it: its bundle (dist/app/main.mjs, scripts/bundle-app.mjs) in a
// process of its own, its RSS read from /proc. Shared by bench:app-rss and bench:peer's
// rss-baseline row, so both measure the same thing (a bench process that imports the app's
// modules itself would also carry the bench's own).
import { spawn } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../src/envtest/binaries.js';

export const APP_MAIN = join(packageRoot(), 'dist', 'app', 'main.mjs');
/** The same entry point unbundled, as the package's `clusterregistry` bin runs it. */
export const APP_MAIN_UNBUNDLED = join(packageRoot(), 'dist', 'src', 'main.js');

export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

/** Where a process's RSS lives, from /proc/PID/smaps: pages of the node binary itself (its code
 * and read-only data, ICU's included, mapped from the file: they grow with the code paths a
 * process runs, not with what it allocates), of other files (shared libraries), and anonymous
 * memory (V8's heap, malloc, stacks). */
export interface RssBreakdown {
  nodeBinary: number;
  otherFiles: number;
  anonymous: number;
}

export function rssBreakdown(pid: number): RssBreakdown {
  const binary = realpathSync(process.execPath);
  const out: RssBreakdown = { nodeBinary: 0, otherFiles: 0, anonymous: 0 };
  let kind: keyof RssBreakdown = 'anonymous';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    // A mapping's header: "start-end perms offset dev inode [path]".
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const path = header[1] ?? '';
      kind = path === binary ? 'nodeBinary' : path.startsWith('/') ? 'otherFiles' : 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] += Number(rss[1]) * 1024;
  }
  return out;
}

/** V8's heap as the app's own /metrics reports it (prom-client's default metrics). */
export interface HeapFigures {
  used: number;
  committed: number;
  /** The young generation's committed size (both semi-spaces). */
  newSpace: number;
}

export async function appHeap(out: string): Promise<HeapFigures | undefined> {
  const port = /metrics on http:\/\/[^:]+:(\d+)\/metrics/.exec(out)?.[1];
  if (!port) return undefined;
  const text = await new Promise<string>((resolve) => {
    get(`http://127.0.0.1:${port}/metrics`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', () => resolve(''));
  });
  const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);
  return {
    used: value(/^nodejs_heap_size_used_bytes (\S+)$/m),
    committed: value(/^nodejs_heap_size_total_bytes (\S+)$/m),
    newSpace: value(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\S+)$/m),
  };
}

export function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

/** Ready when the app's /readyz (its port read from the start-up log) answers 200. */
export async function appReady(out: string): Promise<boolean> {
  const port = /probes on :(\d+)/.exec(out)?.[1];
  return port !== undefined && (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200;
}

/** What the app logs once it has released the boot's memory (src/app/boot-memory.ts). */
export const BOOT_MEMORY_RELEASED = /released the boot's memory/;

/** The app's environment against `manageKubeconfig`: probes and metrics on free ports. */
export function appEnv(manageKubeconfig: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    KUBECONFIG: manageKubeconfig,
    PROBE_PORT: '0',
    METRICS_PORT: '0',
    BIND_ADDRESS: '127.0.0.1',
    LEADER_ELECTION: 'false',
    LOG_LEVEL: 'log',
    // To try V8 and allocator settings: NODE_OPTIONS=... MALLOC_ARENA_MAX=... npm run bench:app-rss
    ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}),
    ...IMAGE_ENV,
  };
}

/** What the Dockerfile sets for the app besides NODE_ENV, so that a bench of the app's process
 * measures it as it runs in the image; MALLOC_ARENA_MAX from the environment overrides it. */
export const IMAGE_ENV: Record<string, string> = { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' };

export interface ProcessMemory {
  atReady: number;
  settled: number;
  /** The settled RSS by where it lives. */
  breakdown: RssBreakdown;
  /** V8's heap when settled, if the process serves /metrics. */
  heap?: HeapFigures;
}

/** Starts `node args`, waits until `ready`, reads RSS then and `settleMs` later (counted from
 * when the output also shows `settledAfter`, if given), stops it. */
export async function measureProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: (out: string) => Promise<boolean>,
  settleMs: number,
  settledAfter?: RegExp,
): Promise<ProcessMemory> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const deadline = Date.now() + 60_000;
    while (!(await ready(out))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`not ready:\n${out.slice(-2000)}`);
      await sleep(50);
    }
    const atReady = rssOf(child.pid!);
    while (settledAfter && !settledAfter.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${settledAfter}:\n${out.slice(-2000)}`);
      await sleep(50);
    }
    await sleep(settleMs);
    const settled = rssOf(child.pid!);
    return { atReady, settled, breakdown: rssBreakdown(child.pid!), heap: await appHeap(out) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
