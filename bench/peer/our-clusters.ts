// The local clusters of the peer comparison and what our side needs in its manage cluster, for
// the bench's own process (bench/peer.ts); the measurement processes never load this.
import { KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../../src/envtest/crd.js';
import { createNamespace, withClusters } from '../support.js';

// ---------------------------------------------------------------------------------------------
// Local clusters, by kubeconfig path

/** Starts `count` local clusters (manage, remote-1, …), runs fn with their kubeconfig paths by
 * name, and stops them whatever happens. */
export async function withLocalClusters<T>(
  count: number,
  fn: (kubeconfigs: Map<string, string>) => Promise<T>,
): Promise<T> {
  return withClusters(count, (clusters) => fn(new Map(clusters.clusters.map((c) => [c.name, c.kubeconfigPath]))));
}

/** What the ready-made app needs in its manage cluster: the RemoteCluster CRD and the namespace
 * of its leader Lease (none of it is created by the app itself). */
export async function prepareManage(kubeconfigPath: string, podNamespace = 'clusterregistry-system'): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(kc, crd);
  const client = new ClusterClient({ name: 'manage', kubeConfig: kc });
  try {
    await createNamespace(client, podNamespace);
  } finally {
    await client.close();
  }
}
