// The ready-made app as a pod runs it: dist/src/main.js in a process of its own, its RSS read from
// /proc. Shared by bench:app-rss and bench:peer's rss-baseline row, so both measure the same thing
// (a bench process that imports the app's modules itself would also carry the bench's own).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../src/envtest/binaries.js';

export const APP_MAIN = join(packageRoot(), 'dist', 'src', 'main.js');

export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
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
    ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
  };
}

/** Starts `node args`, waits until `ready`, reads RSS then and `settleMs` later, stops it. */
export async function measureProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: (out: string) => Promise<boolean>,
  settleMs: number,
): Promise<{ atReady: number; settled: number }> {
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
    await sleep(settleMs);
    return { atReady, settled: rssOf(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
