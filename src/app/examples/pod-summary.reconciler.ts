import { Inject } from '@nestjs/common';
import {
  boundedName,
  CLUSTER_NAME,
  MANAGE_CLIENT,
  Reconciler,
  type ClusterClient,
  type Reconcile,
  type ReconcileContext,
  type ReconcileRequest,
} from '../../index.js';
import { SETTINGS, type Settings } from '../settings.js';

export const SUMMARY_PREFIX = 'pods-';
/** Label on each summary: the cluster's name, hashed to fit when longer than a label allows. */
export const CLUSTER_LABEL = 'clusterregistry.dev/cluster';
/** The cluster's full name, which a label value may be too short for. */
export const CLUSTER_ANNOTATION = 'clusterregistry.dev/cluster-name';

/** The summary ConfigMap's name for a cluster: valid for the longest RemoteCluster names too. */
export function summaryName(cluster: string): string {
  return boundedName(`${SUMMARY_PREFIX}${cluster}`, 253);
}

/**
 * Example remote reconciler: keeps a ConfigMap `pods-<cluster>` in the manage cluster (in the
 * app's namespace) with how many pods each namespace of the remote cluster has. It shows the
 * three things a remote reconciler usually does: read its cache, know its cluster, write to the
 * manage cluster through MANAGE_CLIENT. SETTINGS comes from the root app (`remote.share`).
 */
@Reconciler({ apiVersion: 'v1', kind: 'Pod', name: 'pod-summary', concurrency: 1 })
export class PodSummaryReconciler implements Reconcile {
  constructor(
    @Inject(CLUSTER_NAME) private readonly cluster: string,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** What we wrote last: a thousand pod events after a list must not mean a thousand writes. */
  private written?: string;

  async reconcile(_request: ReconcileRequest, ctx: ReconcileContext): Promise<void> {
    // Level-triggered: whatever pod changed, the summary is recomputed from the cache.
    const counts: Record<string, string> = {};
    for (const pod of ctx.cache.list()) {
      const ns = pod.metadata?.namespace ?? '';
      counts[ns] = String(Number(counts[ns] ?? 0) + 1);
    }
    const serialized = JSON.stringify(Object.entries(counts).sort());
    if (serialized === this.written) return;
    const name = summaryName(this.cluster);
    const namespace = this.settings.podNamespace;
    // Server-side apply: created or replaced in one idempotent request. The manage client is
    // scoped to this reconcile: the request ends with ctx.signal.
    await this.manage.withSignal(ctx.signal).request('PATCH', `/api/v1/namespaces/${namespace}/configmaps/${name}`, {
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'pod-summary', force: true },
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name,
          namespace,
          labels: { [CLUSTER_LABEL]: boundedName(this.cluster, 63) },
          annotations: { [CLUSTER_ANNOTATION]: this.cluster },
        },
        data: counts,
      },
    });
    this.written = serialized;
  }
}
