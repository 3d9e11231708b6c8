import { ManageKubeconfig } from '../index.js';

/** Where the manage cluster is: KUBECONFIG, the pod's service account, or nowhere (then the
 * embedded default starts local clusters). */
export function manageKubeConfig(env: NodeJS.ProcessEnv = process.env): ManageKubeconfig | undefined {
  return ManageKubeconfig.load(env);
}
