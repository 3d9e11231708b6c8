import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { installCrds, LocalClusters, packageRoot, registerRemoteCluster } from '../testing/index.js';

export interface Embedded {
  clusters: LocalClusters;
  manage: KubeConfig;
  /** Printed once everything is up: how to look around. */
  instructions: (probePort: number, metricsPort: number) => string;
}

/**
 * The local default of `npm start` without a cluster: a manage and two remote clusters on this
 * machine, the CRD installed, and each remote registered the way a user would do it, through a
 * kubeconfig Secret and a RemoteCluster object (the testing kit does both, as for any test).
 */
export async function startEmbedded(namespace: string): Promise<Embedded> {
  const dir = process.env.CLUSTERREGISTRY_EMBEDDED_DIR ?? join(packageRoot(), '.clusters');
  mkdirSync(dir, { recursive: true });
  const clusters = await LocalClusters.up({ count: 3, dir });
  process.on('exit', () => clusters.killNow());
  try {
    const manageCluster = clusters.get('manage');
    const manage = new KubeConfig();
    manage.loadFromString(manageCluster.kubeconfig());
    await installCrds(manage);
    for (const remote of clusters.clusters.filter((c) => c.name !== 'manage')) {
      await registerRemoteCluster(manage, { name: remote.name, kubeconfig: remote.kubeconfig(), namespace });
    }
    const instructions = (probePort: number, metricsPort: number): string =>
      [
        'embedded default: local manage cluster and two remote clusters are running',
        ...clusters.clusters.map((c) => `  ${c.name.padEnd(9)} kubectl --kubeconfig ${c.kubeconfigPath} get ns`),
        `  kubectl --kubeconfig ${manageCluster.kubeconfigPath} get rcl`,
        `  kubectl --kubeconfig ${manageCluster.kubeconfigPath} describe rcl remote-1   (conditions and events)`,
        `  curl http://127.0.0.1:${probePort}/readyz   curl http://127.0.0.1:${metricsPort}/metrics`,
        'Ctrl-C stops the app and the clusters.',
      ].join('\n');
    return { clusters, manage, instructions };
  } catch (err) {
    await clusters.down();
    throw err;
  }
}
