import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { CoreV1Api, type KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { AppModule, type AppOptions } from '../../src/app/app.module.js';
import { ProbeServer } from '../../src/app/probe.server.js';
import { loadSettings, type Settings } from '../../src/app/settings.js';
import { packageRoot } from '../../src/envtest/binaries.js';
import { JsonLogger } from '../../src/logging/json-logger.js';
import { API_VERSION, KIND, type RemoteCluster } from '../../src/remotecluster/types.js';
import { uniqueName } from './clusters.js';
import { eventually } from './poll.js';

/** Settings for an app under test: its own namespace (Secrets, Lease), ephemeral ports, a
 * selector so it only runs the RemoteClusters of its test file. */
export function testSettings(namespace: string, selector: string, overrides: Partial<Settings> = {}): Settings {
  return {
    ...loadSettings({}),
    probePort: 0,
    metricsPort: 0,
    bindAddress: '127.0.0.1',
    podNamespace: namespace,
    secretNamespace: namespace,
    leaderElection: false,
    identity: uniqueName('app'),
    clusterStopTimeoutMs: 3_000,
    remoteClusterSelector: selector,
    ...overrides,
  };
}

/** Log lines of an in-process app, for assertions that nothing secret is logged. */
export class CapturedLogs {
  readonly lines: string[] = [];
  readonly logger = new JsonLogger('debug', (line) => this.lines.push(line));
}

export async function startApp(
  manage: KubeConfig,
  settings: Settings,
  logs = new CapturedLogs(),
  remoteReconcilers: AppModuleRemote = [],
  more: Pick<AppOptions, 'providers' | 'remoteProviders'> = {},
): Promise<{ app: INestApplicationContext; url: string; logs: CapturedLogs }> {
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({ settings, manageKubeConfig: manage, remoteReconcilers, ...more }),
    { logger: logs.logger, abortOnError: false },
  );
  return { app, url: probeUrlOf(app), logs };
}

/** Where the app's /healthz and /readyz answer. */
export function probeUrlOf(app: INestApplicationContext): string {
  return `http://127.0.0.1:${app.get(ProbeServer).port}`;
}
type AppModuleRemote = Parameters<typeof AppModule.forRoot>[0]['remoteReconcilers'];

/** The manage cluster as a test drives it: namespaces, Secrets, RemoteClusters. */
export class ManageApi {
  readonly core: CoreV1Api;
  readonly objects: KubernetesObjectApi;

  constructor(readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.objects = kc.makeApiClient(KubernetesObjectApi);
  }

  async namespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  }

  async putSecret(namespace: string, name: string, data: Record<string, string>): Promise<void> {
    const body = { metadata: { name }, stringData: data };
    try {
      await this.core.replaceNamespacedSecret({ namespace, name, body: { ...body, data: {} } });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await this.core.createNamespacedSecret({ namespace, body });
    }
  }

  async createRemoteCluster(
    name: string,
    labels: Record<string, string>,
    secretRef: { namespace: string; name: string; key: string },
    finalizers?: string[],
  ) {
    await this.objects.create({
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, labels, finalizers },
      spec: { kubeConfig: { secretRef } },
    } as never);
  }

  async read(name: string): Promise<RemoteCluster | undefined> {
    try {
      return (await this.objects.read({ apiVersion: API_VERSION, kind: KIND, metadata: { name } })) as RemoteCluster;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /** Waits for the Ready condition to show `status` and `reason` (for the current generation). */
  async ready(name: string, status: string, reason?: string, timeoutMs = 30_000): Promise<RemoteCluster> {
    return eventually(
      `${name} Ready=${status}${reason ? ` (${reason})` : ''}`,
      async () => {
        const rc = await this.read(name);
        const c = rc?.status?.conditions?.find((x) => x.type === 'Ready');
        const ok =
          c?.status === status && (!reason || c.reason === reason) && c.observedGeneration === rc?.metadata?.generation;
        return ok ? rc : undefined;
      },
      timeoutMs,
      100,
    );
  }

  /** Sets (or with null, clears) the finalizers of a RemoteCluster with a merge patch. */
  async setFinalizers(name: string, finalizers: string[] | null): Promise<void> {
    await this.objects.patch(
      { apiVersion: API_VERSION, kind: KIND, metadata: { name, finalizers } } as never,
      undefined,
      undefined,
      undefined,
      undefined,
      'application/merge-patch+json',
    );
  }

  async deleteRemoteCluster(name: string): Promise<void> {
    await this.objects
      .delete({ apiVersion: API_VERSION, kind: KIND, metadata: { name } })
      .catch((e: { code?: number }) => {
        if (e.code !== 404) throw e;
      });
  }

  async gone(name: string, timeoutMs = 30_000): Promise<void> {
    await eventually(
      `${name} gone`,
      async () => ((await this.read(name)) === undefined ? true : undefined),
      timeoutMs,
      100,
    );
  }
}

export interface MainProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The ready-made app as its image runs it: the bundle of `npm run build` (scripts/bundle-app.mjs). */
export const APP_BUNDLE = join(packageRoot(), 'dist', 'app', 'main.mjs');

/** Runs the real entry point (the app's bundle, or another built `script`) as its own process
 * against a manage kubeconfig. */
export function runMain(manageKubeconfig: string, env: Record<string, string>, script = APP_BUNDLE): MainProcess {
  const path = join(tmpdir(), `${uniqueName('manage')}.kubeconfig`);
  writeFileSync(path, manageKubeconfig, { mode: 0o600 });
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KUBECONFIG: path, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // APP_LOG_DIR keeps every app process's whole output (a flake's evidence outlives the run).
  const keep = process.env.APP_LOG_DIR
    ? join(process.env.APP_LOG_DIR, `${uniqueName(env.POD_NAME ?? 'app')}.log`)
    : undefined;
  const proc = watchProcess(child, keep);
  // The kubeconfig holds the manage cluster's admin credentials: gone with the process.
  void proc.exited.then(() => rmSync(path, { force: true }));
  return proc;
}

/** A spawned process with its output (stdout and stderr, also appended to `keep` if given) and
 * its exit. */
export function watchProcess(child: ChildProcess, keep?: string): MainProcess {
  let out = '';
  const take = (c: Buffer): void => {
    out += c.toString();
    if (keep) appendFileSync(keep, c);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** Waits for a line in a process's output; on failure, the error shows the output's tail. */
export async function waitOutput(proc: MainProcess, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  try {
    await eventually(`output ${pattern}`, () => (pattern.test(proc.output()) ? true : undefined), timeoutMs, 50);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- output ---\n${proc.output().slice(-3000)}`, { cause: err });
  }
}

export function probeUrl(proc: MainProcess): string | undefined {
  const m = /probes on :(\d+)/.exec(proc.output());
  return m ? `http://127.0.0.1:${m[1]}` : undefined;
}

export async function stopProcess(proc: MainProcess): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await proc.exited;
}

/** Resident set size of a process, from /proc (bytes). */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}
