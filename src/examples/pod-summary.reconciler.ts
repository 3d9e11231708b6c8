import { Inject } from '@nestjs/common';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import type { ClusterClient } from '../client/cluster-client.js';
import { CLUSTER_NAME, MANAGE_CLIENT } from '../cluster/tokens.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import { Reconciler } from '../reconcile/reconciler.decorator.js';
import type { Reconcile, ReconcileContext, ReconcileRequest } from '../reconcile/types.js';

export const SUMMARY_PREFIX = 'pods-';

/**
 * Example remote reconciler: keeps a ConfigMap `pods-<cluster>` in the manage cluster (in the
 * app's namespace) with how many pods each namespace of the remote cluster has. It shows the
 * three things a remote reconciler usually does: read its cache, know its cluster, write to the
 * manage cluster through MANAGE_CLIENT.
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
    const name = `${SUMMARY_PREFIX}${this.cluster}`;
    const namespace = this.settings.podNamespace;
    const body = { metadata: { name, labels: { 'clusterregistry.dev/cluster': this.cluster } }, data: counts };
    const core = this.manage.api(CoreV1Api);
    try {
      await core.replaceNamespacedConfigMap({ namespace, name, body });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await core.createNamespacedConfigMap({ namespace, body });
    }
    this.written = serialized;
  }
}
