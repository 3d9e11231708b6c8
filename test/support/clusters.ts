import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { fetchText } from '../../src/envtest/http.js';
import type { ClustersManifest } from '../../src/envtest/local-clusters.js';
import type { LocalClusterInfo } from '../../src/envtest/local-cluster.js';

/** One of the run's real clusters, as a test sees it. */
export class TestCluster {
  constructor(
    readonly info: LocalClusterInfo,
    private readonly control: ClustersManifest['control'],
  ) {}

  get name(): string {
    return this.info.name;
  }

  /** The admin kubeconfig as YAML/JSON text (inline certificates, fit for a Secret). */
  kubeconfigText(): string {
    return readFileSync(this.info.kubeconfigPath, 'utf8');
  }

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

/** The clusters the jest global setup started (or those named by CLUSTERREGISTRY_TEST_CLUSTERS). */
export function testClusters(): TestClusters {
  const path = process.env.CLUSTERREGISTRY_TEST_CLUSTERS;
  if (!path) throw new Error('CLUSTERREGISTRY_TEST_CLUSTERS is not set: run integration tests through jest (npm test)');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as ClustersManifest;
  const all = manifest.clusters.map((info) => new TestCluster(info, manifest.control));
  const [manage, ...remotes] = all;
  if (!manage || remotes.length < 2)
    throw new Error(`integration tests need a manage and two remote clusters, got ${all.length}`);
  return { manage, remotes, all };
}

/** A name no other test run on the same clusters will use. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}
