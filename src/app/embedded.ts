import { join } from 'node:path';
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { API_VERSION, KIND } from '../index.js';
import { installCrd, loadCrds, LocalClusters, packageRoot } from '../testing/index.js';

export interface Embedded {
  clusters: LocalClusters;
  manage: KubeConfig;
  /** Printed once everything is up: how to look around. */
  instructions: (probePort: number, metricsPort: number) => string;
}

/**
 * The local default of `npm start` without a cluster: a manage and two remote clusters on this
 * machine, the CRD installed, and each remote registered the way a user would do it, through a
 * kubeconfig Secret and a RemoteCluster object.
 */
export async function startEmbedded(dir: string, namespace: string): Promise<Embedded> {
  const clusters = await LocalClusters.up({ count: 3, dir });
  try {
    const manageCluster = clusters.get('manage');
    const manage = new KubeConfig();
    manage.loadFromString(manageCluster.kubeconfig());
    for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(manage, crd);
    const core = manage.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(ignoreConflict);
    const objects = manage.makeApiClient(KubernetesObjectApi);
    for (const remote of clusters.clusters.filter((c) => c.name !== 'manage')) {
      const secretName = `${remote.name}-kubeconfig`;
      await core
        .createNamespacedSecret({
          namespace,
          body: { metadata: { name: secretName }, stringData: { kubeconfig: remote.kubeconfig() } },
        })
        .catch(ignoreConflict);
      await objects
        .create({
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: { name: remote.name },
          spec: { kubeConfig: { secretRef: { namespace, name: secretName, key: 'kubeconfig' } } },
        } as never)
        .catch(ignoreConflict);
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

function ignoreConflict(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err;
}
