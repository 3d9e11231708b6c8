import { createHash } from 'node:crypto';
import { Inject, Logger } from '@nestjs/common';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, KubeApiError } from '../client/errors.js';
import { MANAGE_CLIENT } from '../cluster/tokens.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import { Reconciler } from '../reconcile/reconciler.decorator.js';
import type {
  CacheReader,
  Reconcile,
  ReconcileContext,
  ReconcileRequest,
  ReconcileResult,
  ReconcilerOptions,
} from '../reconcile/types.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import type { ClusterStatus } from '../registry/types.js';
import { sameConditions, setCondition } from './conditions.js';
import { kubeConfigFromSecret, KubeconfigError } from './kubeconfig-source.js';
import { API_VERSION, FINALIZER, KIND, PLURAL, type Condition, type RemoteCluster } from './types.js';

/** How often Ready is re-evaluated while a cluster is connecting, and once it is settled. */
const POLL_UNSETTLED_MS = 1_000;
const POLL_SETTLED_MS = 15_000;
const FIRST_SYNC_WAIT_MS = 2_000;

const PATH = `/apis/${API_VERSION}/${PLURAL}`;

/**
 * The RemoteCluster controller, a manage reconciler: it drives the registry from the API. State
 * lives in the API only: after a restart or a change of leader, the first list reconciles every
 * object and respawns every runtime (no generation gate skips them).
 */
@Reconciler({
  apiVersion: API_VERSION,
  kind: KIND,
  name: 'remotecluster',
  concurrency: 4,
  timeoutMs: 30_000,
  backoff: { baseMs: 500, maxMs: 60_000 },
})
export class RemoteClusterReconciler implements Reconcile<RemoteCluster> {
  private readonly logger = new Logger('RemoteCluster');
  /** Which kubeconfig each running runtime was spawned with (a hash, never the content). */
  private readonly spawnedWith = new Map<string, string>();

  constructor(
    private readonly registry: RemoteClusterRegistry,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return {
      labelSelector: this.settings.remoteClusterSelector,
      // The kubeconfig Secrets: a change restarts the runtime, a new one fixes a broken cluster.
      // Only one namespace, so the app's RBAC never needs Secrets cluster-wide.
      watches: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: this.settings.secretNamespace,
          map: (secret, primary) =>
            primary
              .list()
              .filter((rc) => {
                const ref = (rc as RemoteCluster).spec?.kubeConfig?.secretRef;
                return ref?.namespace === secret.metadata?.namespace && ref?.name === secret.metadata?.name;
              })
              .map((rc) => ({ name: rc.metadata!.name! })),
        },
      ],
    };
  }

  async reconcile({ name }: ReconcileRequest, ctx: ReconcileContext<RemoteCluster>): Promise<ReconcileResult> {
    const rc = ctx.cache.get(undefined, name);
    if (!rc) {
      // Gone from the API (our finalizer was already removed): make sure nothing still runs.
      await this.stopRuntime(name);
      return;
    }
    if (rc.metadata?.deletionTimestamp) {
      await this.stopRuntime(name);
      await this.removeFinalizer(rc, ctx.signal);
      return;
    }
    if (!rc.metadata?.finalizers?.includes(FINALIZER)) {
      // Before anything is spawned, so a deletion can never leave a runtime behind.
      await this.addFinalizer(rc, ctx.signal);
    }

    let source: ReturnType<typeof kubeConfigFromSecret>;
    try {
      source = this.readKubeconfig(rc, ctx.cacheOf('v1', 'Secret'));
    } catch (err) {
      if (!(err instanceof KubeconfigError)) throw err;
      // No usable credentials any more: nothing may keep running on the old ones.
      await this.stopRuntime(name);
      await this.writeReady(rc, { status: 'False', reason: err.reason, message: err.message }, ctx.signal);
      this.logger.warn(`${name}: ${err.message}`);
      return; // the Secret watch brings us back when it is fixed
    }

    const hash = createHash('sha256').update(source.text).digest('hex');
    if (this.registry.has(name) && this.spawnedWith.get(name) !== hash) {
      this.logger.log(`${name}: kubeconfig changed, restarting its runtime`);
      await this.stopRuntime(name);
    }
    if (!this.registry.has(name)) {
      await this.registry.spawn(name, source.kubeConfig, { timeoutMs: 30_000 });
      this.spawnedWith.set(name, hash);
      // Most clusters sync within a second: report that at once instead of at the next poll.
      // Bounded, so a slow cluster holds a worker for at most this long.
      await this.registry
        .waitForSync(name, { timeoutMs: FIRST_SYNC_WAIT_MS, signal: ctx.signal })
        .catch(() => undefined);
    }

    const status = this.registry.status(name);
    const user = source.kubeConfig.getCurrentUser();
    const ready = readyFrom(status, user?.certData ? 'certificate' : user?.token ? 'token' : undefined);
    await this.writeReady(rc, ready, ctx.signal);
    return { requeueAfterMs: ready.status === 'True' ? POLL_SETTLED_MS : POLL_UNSETTLED_MS };
  }

  private readKubeconfig(rc: RemoteCluster, secrets: CacheReader | undefined): ReturnType<typeof kubeConfigFromSecret> {
    const ref = rc.spec?.kubeConfig?.secretRef;
    if (!ref?.namespace || !ref.name || !ref.key) {
      throw new KubeconfigError('InvalidKubeconfig', 'spec.kubeConfig.secretRef needs namespace, name and key');
    }
    if (ref.namespace !== this.settings.secretNamespace) {
      throw new KubeconfigError(
        'SecretNamespaceNotWatched',
        `Secret ${ref.namespace}/${ref.name} is outside the namespace this app reads kubeconfigs from (${this.settings.secretNamespace})`,
      );
    }
    return kubeConfigFromSecret(secrets?.get(ref.namespace, ref.name), ref);
  }

  private async stopRuntime(name: string): Promise<void> {
    this.spawnedWith.delete(name);
    if (!this.registry.has(name)) return;
    try {
      // Bounded: a dead cluster must not hold a deletion or a restart.
      await this.registry.stop(name, { timeoutMs: this.settings.clusterStopTimeoutMs });
    } catch (err) {
      this.logger.warn(`${name}: runtime did not stop cleanly: ${describeFailure(err)}`);
    }
  }

  private async addFinalizer(rc: RemoteCluster, signal: AbortSignal): Promise<void> {
    const current = rc.metadata?.finalizers;
    // A JSON patch guarded by the resourceVersion: other finalizers are never overwritten.
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: rc.metadata?.resourceVersion },
      current
        ? { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER }
        : { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
    ];
    await this.patch(rc, ops, signal);
  }

  private async removeFinalizer(rc: RemoteCluster, signal: AbortSignal): Promise<void> {
    const index = rc.metadata?.finalizers?.indexOf(FINALIZER) ?? -1;
    if (index < 0) return;
    // test + remove by index: removes ours only, and fails (then retries) if the list moved.
    const ops = [
      { op: 'test', path: `/metadata/finalizers/${index}`, value: FINALIZER },
      { op: 'remove', path: `/metadata/finalizers/${index}` },
    ];
    try {
      await this.patch(rc, ops, signal);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
  }

  private async patch(rc: RemoteCluster, ops: object[], signal: AbortSignal): Promise<void> {
    await this.manage.request('PATCH', `${PATH}/${encodeURIComponent(rc.metadata!.name!)}`, {
      body: ops,
      contentType: 'application/json-patch+json',
      signal,
    });
  }

  private async writeReady(
    rc: RemoteCluster,
    ready: Pick<Condition, 'status' | 'reason' | 'message'>,
    signal: AbortSignal,
  ): Promise<void> {
    const generation = rc.metadata?.generation;
    const conditions = setCondition(rc.status?.conditions, { type: 'Ready', ...ready, observedGeneration: generation });
    if (sameConditions(conditions, rc.status?.conditions) && rc.status?.observedGeneration === generation) return;
    const previous = rc.status?.conditions?.find((c) => c.type === 'Ready');
    if (previous?.status !== ready.status || previous.reason !== ready.reason) {
      this.logger.log(`${rc.metadata?.name}: Ready=${ready.status} (${ready.reason})`);
    }
    try {
      await this.manage.request('PATCH', `${PATH}/${encodeURIComponent(rc.metadata!.name!)}/status`, {
        body: { status: { observedGeneration: generation, conditions } },
        contentType: 'application/merge-patch+json',
        signal,
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return; // deleted meanwhile
      throw err;
    }
  }
}

/** Ready from the runtime's real state: synced, or why not. A 401 is told apart by the kind of
 * credential that was rejected, since that is what the operator has to fix. */
export function readyFrom(
  status: ClusterStatus | undefined,
  credential?: 'certificate' | 'token',
): Pick<Condition, 'status' | 'reason' | 'message'> {
  if (!status) return { status: 'Unknown', reason: 'NotRunning', message: 'no runtime is running for this cluster' };
  switch (status.phase) {
    case 'synced': {
      const kinds = status.watches.map((w) => w.kind).join(', ');
      return { status: 'True', reason: 'Synced', message: `connected; caches synced (${kinds || 'no watches'})` };
    }
    case 'degraded': {
      const message = status.cause?.message ?? 'a watch is failing';
      if (status.cause?.reason === 'Unauthorized' && credential === 'certificate') {
        return {
          status: 'False',
          reason: 'ClientCertificateRejected',
          message: `the apiserver did not accept the client certificate (not signed by its client CA, or expired): ${message}`,
        };
      }
      if (status.cause?.reason === 'Unauthorized' && credential === 'token') {
        return {
          status: 'False',
          reason: 'TokenRejected',
          message: `the apiserver did not accept the token: ${message}`,
        };
      }
      return { status: 'False', reason: status.cause?.reason ?? 'Degraded', message };
    }
    case 'stopping':
      return { status: 'False', reason: 'Stopping', message: 'the runtime is stopping' };
    default:
      return { status: 'Unknown', reason: 'Connecting', message: 'connecting; caches not synced yet' };
  }
}
