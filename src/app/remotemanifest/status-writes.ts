import { KubeApiError, type ClusterClient } from '../../index.js';
import { RM_API_VERSION, RM_KIND, rmPath, type ClusterManifestStatus, type RemoteManifestStatus } from './api.js';
import { clusterStatusManager, SUMMARY_MANAGER } from './markers.js';

/**
 * RemoteManifest status is written by server-side apply, one field manager per writer: the
 * manage reconciler owns observedGeneration, conditions and summary; each cluster owns its own
 * entry of `clusters` (a list keyed by cluster). The apiserver merges them, so clusters that
 * report at the same moment never overwrite each other and nobody reads before writing.
 */
async function applyStatus(
  manage: ClusterClient,
  rm: { namespace: string; name: string },
  manager: string,
  status: RemoteManifestStatus,
): Promise<void> {
  try {
    await manage.request('PATCH', `${rmPath(rm.namespace, rm.name)}/status`, {
      query: { fieldManager: manager, force: true },
      // No uid: apply ignores it as a precondition. A deleted RemoteManifest's placements are
      // withdrawn before anything else, so its clusters stop writing for it.
      body: { apiVersion: RM_API_VERSION, kind: RM_KIND, metadata: { namespace: rm.namespace, name: rm.name }, status },
      contentType: 'application/apply-patch+yaml',
    });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return; // deleted meanwhile
    throw err;
  }
}

export function writeSummary(
  manage: ClusterClient,
  rm: { namespace: string; name: string },
  status: Pick<RemoteManifestStatus, 'observedGeneration' | 'conditions' | 'summary'>,
): Promise<void> {
  return applyStatus(manage, rm, SUMMARY_MANAGER, status);
}

export function writeClusterEntry(
  manage: ClusterClient,
  rm: { namespace: string; name: string },
  entry: ClusterManifestStatus,
): Promise<void> {
  return applyStatus(manage, rm, clusterStatusManager(entry.cluster), { clusters: [entry] });
}

/** Removes a cluster's entry: the same field manager applying nothing gives up all it owned. */
export function retireClusterEntry(
  manage: ClusterClient,
  rm: { namespace: string; name: string },
  cluster: string,
): Promise<void> {
  return applyStatus(manage, rm, clusterStatusManager(cluster), {});
}
