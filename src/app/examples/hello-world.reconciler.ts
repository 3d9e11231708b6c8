import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import {
  API_VERSION,
  KIND,
  Reconciler,
  RemoteClusterRegistry,
  type Reconcile,
  type ReconcileContext,
  type ReconcilerOptions,
  type ReconcileRequest,
  type RemoteCluster,
} from '../../index.js';

/**
 * Example manage reconciler, the seed's hello-world flow: once a RemoteCluster's runtime is
 * synced, create a `hello-world` pod in that remote cluster through `withClient`; a pod that
 * exists already is fine. It watches the RemoteCluster objects in the manage cluster, and hears
 * of runtimes becoming synced through the registry (a source), not by polling.
 *
 * RBAC in each remote cluster (its kubeconfig's user): pods create in namespace default.
 */
@Reconciler({ apiVersion: API_VERSION, kind: KIND, name: 'hello-world' })
export class HelloWorld implements Reconcile<RemoteCluster> {
  constructor(private readonly registry: RemoteClusterRegistry) {}

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return {
      sources: [(enqueue) => this.registry.onStateChange((t) => t.to === 'synced' && enqueue({ name: t.cluster }))],
    };
  }

  async reconcile({ name }: ReconcileRequest, ctx: ReconcileContext<RemoteCluster>): Promise<void> {
    if (!ctx.cache.get(undefined, name)) return; // deleted
    if (this.registry.status(name)?.phase !== 'synced') return; // the source brings it back when synced
    await this.registry.withClient(name, async (client) => {
      try {
        await client
          .withSignal(ctx.signal)
          .api(CoreV1Api)
          .createNamespacedPod({
            namespace: 'default',
            body: {
              metadata: { name: 'hello-world' },
              spec: {
                containers: [
                  {
                    name: 'hello-world',
                    image: 'docker/whalesay',
                    imagePullPolicy: 'IfNotPresent',
                    command: ['cowsay', 'Hello World'],
                  },
                ],
              },
            },
          });
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 409)) throw err; // AlreadyExists is fine
      }
    });
  }
}
