import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ClusterClient } from '../client/cluster-client.js';
import { KubeApiError } from '../client/errors.js';
import { packageRoot } from '../envtest/binaries.js';
import { installCrd, loadCrds } from '../envtest/crd.js';
import { API_VERSION, KIND, PLURAL } from '../remotecluster/types.js';

/** The RemoteCluster CRD as the package ships it. */
export function crdManifestPath(): string {
  return join(packageRoot(), 'deploy', 'crd.yaml');
}

/** Installs (or updates) the package's CRDs in a cluster and waits until they are served. */
export async function installCrds(manage: KubeConfig): Promise<void> {
  for (const crd of loadCrds(crdManifestPath())) await installCrd(manage, crd);
}

export interface RemoteClusterRegistration {
  /** The RemoteCluster's name. */
  name: string;
  /** The remote cluster's kubeconfig text (inline credentials). */
  kubeconfig: string;
  /** Namespace of the Secret: the one the RemoteCluster controller reads (its secretNamespace). */
  namespace: string;
  /** Default `<name>-kubeconfig`. */
  secretName?: string;
  labels?: Record<string, string>;
}

/**
 * Registers a remote cluster the way an operator does: a kubeconfig Secret and a RemoteCluster
 * that points at it (the namespace is created if needed; existing objects are updated).
 */
export async function registerRemoteCluster(
  manage: KubeConfig,
  registration: RemoteClusterRegistration,
): Promise<void> {
  const { name, kubeconfig, namespace, labels } = registration;
  const secretName = registration.secretName ?? `${name}-kubeconfig`;
  const client = new ClusterClient({ name: 'manage', kubeConfig: manage });
  try {
    await createOrIgnore(client, '/api/v1/namespaces', { metadata: { name: namespace } });
    await apply(client, `/api/v1/namespaces/${namespace}/secrets/${secretName}`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace },
      stringData: { kubeconfig },
    });
    await apply(client, `/apis/${API_VERSION}/${PLURAL}/${name}`, {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, labels },
      spec: { kubeConfig: { secretRef: { namespace, name: secretName, key: 'kubeconfig' } } },
    });
  } finally {
    await client.close();
  }
}

async function createOrIgnore(client: ClusterClient, path: string, body: object): Promise<void> {
  try {
    await client.request('POST', path, { body });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
  }
}

/** Server-side apply: creates or updates, whatever is there. */
async function apply(client: ClusterClient, path: string, body: object): Promise<void> {
  await client.request('PATCH', path, {
    body,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: 'clusterregistry-testing', force: true },
  });
}
