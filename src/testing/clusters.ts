import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ControlServer } from '../envtest/control-server.js';
import { fetchText } from '../envtest/http.js';
import type { LocalClusterInfo } from '../envtest/local-cluster.js';
import { LocalClusters, type ClustersManifest } from '../envtest/local-clusters.js';

/** Where the clusters of a test run are described (clusters.json of `npm run clusters -- up` or
 * of setupTestClusters()). */
export const TEST_CLUSTERS_ENV = 'CLUSTERREGISTRY_TEST_CLUSTERS';

export interface TestClustersOptions {
  /** A manage cluster and count-1 remote clusters (default 3). */
  count?: number;
  /** Extra kube-apiserver flags (feature gates…). */
  apiserverArgs?: string[];
  /** Allow this long for all of them to answer /readyz (default 90 s: several start at once). */
  readyTimeoutMs?: number;
}

interface Running {
  clusters: LocalClusters;
  control: ControlServer;
}

const running = Symbol.for('clusterregistry.testing.clusters');
type WithRunning = typeof globalThis & { [running]?: Running };

/**
 * For jest's globalSetup: starts real control planes once per test run and publishes them in
 * CLUSTERREGISTRY_TEST_CLUSTERS, which test files read with testClusters(). When the variable is
 * set already (clusters started with `npm run clusters -- up`), nothing is started. The clusters
 * never outlive the run: teardownTestClusters() stops them, Ctrl-C and SIGTERM do too, and a
 * watchdog removes them within a second if the runner is killed outright.
 *
 *   // jest.config.js: globalSetup: './test/setup.mjs', globalTeardown: './test/teardown.mjs'
 *   export default () => setupTestClusters({ count: 3 });       // test/setup.mjs
 *   export default () => teardownTestClusters();                // test/teardown.mjs
 */
export async function setupTestClusters(options: TestClustersOptions = {}): Promise<void> {
  if (process.env[TEST_CLUSTERS_ENV]) return;
  const count = options.count ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'clusterregistry-test-'));
  const started = Date.now();
  const clusters = await LocalClusters.up({
    count,
    dir,
    readyTimeoutMs: options.readyTimeoutMs ?? 90_000,
    apiserverArgs: options.apiserverArgs,
    removeDirIfOrphaned: true,
  });
  const kill = (): void => {
    clusters.killNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', kill);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      kill();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  const control = await ControlServer.listen(clusters);
  clusters.writeManifest({ url: control.url, token: control.token });
  process.env[TEST_CLUSTERS_ENV] = clusters.manifestPath;
  (globalThis as WithRunning)[running] = { clusters, control };
  process.stderr.write(
    `\n[clusters] ${count} clusters ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})\n`,
  );
}

/** For jest's globalTeardown: stops what setupTestClusters() started, whether tests passed or
 * not. CLUSTERREGISTRY_KEEP_LOGS=1 keeps the control-plane logs for a post-mortem. */
export async function teardownTestClusters(): Promise<void> {
  const state = (globalThis as WithRunning)[running];
  if (!state) return;
  delete (globalThis as WithRunning)[running];
  await state.control.close();
  await state.clusters.down();
  if (process.env.CLUSTERREGISTRY_KEEP_LOGS) {
    process.stderr.write(`[clusters] control-plane logs kept in ${state.clusters.dir}\n`);
  } else {
    rmSync(state.clusters.dir, { recursive: true, force: true });
  }
}

/** One of the run's real clusters, as a test sees it. */
export class TestCluster {
  constructor(
    readonly info: LocalClusterInfo,
    private readonly control: ClustersManifest['control'],
  ) {}

  get name(): string {
    return this.info.name;
  }

  /** The admin kubeconfig as text (inline certificates, fit for a Secret). */
  kubeconfigText(): string {
    return readFileSync(this.info.kubeconfigPath, 'utf8');
  }

  /** The admin kubeconfig for @kubernetes/client-node. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigText());
    return kc;
  }

  /** Stops and starts this cluster's kube-apiserver; resolves once /readyz answers again. */
  async restartApiserver(): Promise<void> {
    await this.call('restart-apiserver');
  }

  /** Compacts this cluster's etcd to its current revision, which it returns. */
  async compactEtcd(): Promise<number> {
    return (JSON.parse(await this.call('compact-etcd')) as { revision: number }).revision;
  }

  private async call(action: string): Promise<string> {
    if (!this.control) throw new Error('these clusters were started without a control endpoint');
    const res = await fetchText(`${this.control.url}/clusters/${encodeURIComponent(this.name)}/${action}`, {
      body: '',
      headers: { authorization: `Bearer ${this.control.token}` },
      timeoutMs: 120_000,
    });
    if (res.status >= 300) throw new Error(`${action} on ${this.name}: ${res.status} ${res.body}`);
    return res.body;
  }
}

export interface TestClusters {
  manage: TestCluster;
  remotes: TestCluster[];
  all: TestCluster[];
}

/** In a test file: the clusters setupTestClusters() started (or CLUSTERREGISTRY_TEST_CLUSTERS names). */
export function testClusters(): TestClusters {
  const path = process.env[TEST_CLUSTERS_ENV];
  if (!path)
    throw new Error(
      `${TEST_CLUSTERS_ENV} is not set: start the clusters with setupTestClusters() in jest's globalSetup`,
    );
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as ClustersManifest;
  const all = manifest.clusters.map((info) => new TestCluster(info, manifest.control));
  const [manage, ...remotes] = all;
  if (!manage) throw new Error(`${path} lists no cluster`);
  return { manage, remotes, all };
}
