import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export type ManageSource = 'kubeconfig' | 'in-cluster' | 'none';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Where the manage cluster is: KUBECONFIG, the pod's service account, or nowhere (then the
 * embedded default starts local clusters). */
export function manageKubeConfig(env: NodeJS.ProcessEnv = process.env): {
  source: ManageSource;
  kubeConfig?: KubeConfig;
} {
  if (env.KUBECONFIG) {
    const kc = new KubeConfig();
    kc.loadFromFile(env.KUBECONFIG);
    return { source: 'kubeconfig', kubeConfig: kc };
  }
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return { source: 'in-cluster', kubeConfig: kc };
  }
  return { source: 'none' };
}
