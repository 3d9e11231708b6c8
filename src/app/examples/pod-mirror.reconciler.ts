import { Inject } from '@nestjs/common';
import {
  boundedName,
  CLUSTER_NAME,
  KubeApiError,
  MANAGE_CLIENT,
  Reconciler,
  type ClusterClient,
  type Reconcile,
  type ReconcileContext,
  type ReconcileRequest,
} from '../../index.js';

/** Where the mirrors go: a namespace of the manage cluster that exists (the app's own, say). */
export const POD_MIRROR_NAMESPACE = Symbol('POD_MIRROR_NAMESPACE');

/**
 * Example remote reconciler: every pod labelled `team=payments` in a remote cluster has a
 * ConfigMap in the manage cluster saying where it runs and in which phase; when the pod goes,
 * so does its mirror. Server-side apply makes every reconcile idempotent: the same pod applied
 * twice is one object, never a 409.
 *
 * RBAC in the manage cluster: configmaps get, patch and delete in the mirror namespace.
 */
@Reconciler({ apiVersion: 'v1', kind: 'Pod', labelSelector: 'team=payments', name: 'pod-mirror', concurrency: 4 })
export class PodMirror implements Reconcile {
  constructor(
    @Inject(CLUSTER_NAME) private readonly cluster: string,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    @Inject(POD_MIRROR_NAMESPACE) private readonly namespace: string,
  ) {}

  async reconcile(req: ReconcileRequest, ctx: ReconcileContext): Promise<void> {
    // Valid for the longest cluster, namespace and pod names: cut with a hash when too long.
    const name = boundedName(`${this.cluster}.${req.namespace}.${req.name}`, 253);
    const path = `/api/v1/namespaces/${this.namespace}/configmaps/${name}`;
    // The manage client scoped to this reconcile: its requests end with ctx.signal.
    const manage = this.manage.withSignal(ctx.signal);
    const pod = ctx.cache.get(req.namespace, req.name) as { status?: { phase?: string } } | undefined;
    if (!pod) {
      await manage.request('DELETE', path).catch((err: unknown) => {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      });
      return;
    }
    await manage.request('PATCH', path, {
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'pod-mirror', force: true },
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: this.namespace, labels: { 'clusterregistry.dev/mirror': 'pod' } },
        data: {
          cluster: this.cluster,
          namespace: req.namespace ?? '',
          pod: req.name,
          phase: pod.status?.phase ?? 'Unknown',
        },
      },
    });
  }
}
