import { Inject, Logger } from '@nestjs/common';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, KubeApiError } from '../client/errors.js';
import type { EventRecorder, EventType } from '../events/types.js';
import { Orchestrator } from '../lifecycle/orchestrator.js';
import { Reconciler } from '../reconcile/reconciler.decorator.js';
import type {
  CacheReader,
  Reconcile,
  ReconcileContext,
  ReconcileRequest,
  ReconcilerOptions,
} from '../reconcile/types.js';
import { ClusterNotOwnedError, ClusterSpawnError } from '../registry/errors.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import type { ClusterStatus, ClusterTransition } from '../registry/types.js';
import { EVENT_RECORDER, MANAGE_CLIENT, RESERVED_CLUSTER_NAMES } from '../runtime/tokens.js';
import { sameConditions, setCondition } from './conditions.js';
import { KubeconfigError, type ClusterConnectionConfig } from '../client/kubeconfig.js';
import { kubeconfigFromSecret, SecretSourceError } from './kubeconfig-source.js';
import { REMOTE_CLUSTER_CONTROLLER_OPTIONS, type RemoteClusterControllerOptions } from './options.js';
import { API_VERSION, FINALIZER, KIND, PLURAL, type Condition, type RemoteCluster } from './types.js';

const PATH = `/apis/${API_VERSION}/${PLURAL}`;

type ConditionValue = Pick<Condition, 'status' | 'reason' | 'message'>;

/** The reporting controller of the RemoteCluster controller's events ("From" in kubectl describe). */
export const REMOTECLUSTER_EVENT_SOURCE = 'clusterregistry.dev/remotecluster';

/**
 * The RemoteCluster controller, a manage reconciler: it drives the registry from the API. State
 * lives in the API only: after a restart or a change of leader, the first list reconciles every
 * object and respawns every runtime (no generation gate skips them). A runtime's state changes
 * reach it as events (the registry is one of its sources), so Ready follows a change at once
 * and nothing is polled.
 *
 * With sharding it runs on every replica and acts only on the clusters this replica owns (holds
 * the shard Lease of): only the owner spawns, writes status (with `owner`, its identity) and
 * removes the finalizer. Shards gained or lost are events too, so a cluster moves at once.
 *
 * It records Kubernetes Events on each RemoteCluster, once per transition, never per reconcile:
 * from its own decisions RuntimeStarted, KubeconfigChanged, RuntimeStopped, RuntimeFailed and a
 * Warning named after what is wrong with the kubeconfig (SecretNotFound, InvalidKubeconfig…); from
 * the registry's transitions Degraded (with the cause) and Recovered.
 */
@Reconciler({
  apiVersion: API_VERSION,
  kind: KIND,
  name: 'remotecluster',
  concurrency: 4,
  timeoutMs: 45_000,
  backoff: { baseMs: 500, maxMs: 60_000 },
})
export class RemoteClusterReconciler implements Reconcile<RemoteCluster> {
  private readonly logger = new Logger('RemoteCluster');
  /** The status each object was last given, and the resourceVersions known to come before that
   * write (the one it was written over, and those of our own writes before it while the cache
   * lagged): while the cache shows one of them it has not seen the write, which stands for it. */
  private readonly written = new Map<
    string,
    { before: Set<string>; status: RemoteCluster['status']; written?: string }
  >();
  private readonly events: EventRecorder;
  /** What the events last said of each runtime's health, so each transition is told once. */
  private readonly told = new Map<string, { phase: 'synced' | 'degraded'; reason?: string }>();
  /** The kubeconfig problem last told per object (reason and message). */
  private readonly problems = new Map<string, string>();

  constructor(
    private readonly registry: RemoteClusterRegistry,
    private readonly orchestrator: Orchestrator,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    @Inject(REMOTE_CLUSTER_CONTROLLER_OPTIONS) private readonly options: RemoteClusterControllerOptions,
    @Inject(EVENT_RECORDER) recorder: EventRecorder,
  ) {
    this.events = recorder.forController(REMOTECLUSTER_EVENT_SOURCE);
  }

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return {
      labelSelector: this.options.selector,
      // The kubeconfig Secrets: a change restarts the runtime, a new one fixes a broken cluster.
      // Only one namespace, so the app's RBAC never needs Secrets cluster-wide.
      watches: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: this.options.secretNamespace,
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
      sources: [
        // Every change of a runtime's state brings its RemoteCluster back (and is told as an event),
        // but those of a spawn itself: its start (no `from`) and its failure (starting → stopped)
        // happen while the spawning reconcile runs, which knows; brought back, a cluster that
        // fails fast would be spawned again at once, its failure's backoff never waited.
        (enqueue) =>
          this.registry.onStateChange((t) => {
            this.tell(t);
            if (t.from === undefined || (t.from === 'starting' && t.to === 'stopped')) return;
            enqueue({ name: t.cluster });
          }),
        // So does every shard this replica gains (spawn) or loses (its runtime was stopped).
        (enqueue) =>
          this.orchestrator.onOwnershipChange((change) => {
            const cache = this.orchestrator.manageRuntime?.cache(API_VERSION, KIND);
            for (const rc of cache?.list() ?? []) {
              const name = rc.metadata?.name;
              if (name && change.includes(name)) enqueue({ name });
            }
          }),
      ],
    };
  }

  async reconcile({ name }: ReconcileRequest, ctx: ReconcileContext<RemoteCluster>): Promise<void> {
    let rc = ctx.cache.get(undefined, name);
    if (!rc) {
      // Gone from the API (our finalizer was already removed): make sure nothing still runs.
      this.written.delete(name);
      this.told.delete(name);
      this.problems.delete(name);
      await this.stopRuntime(name);
      return;
    }
    if (!this.orchestrator.owns(name)) {
      // Another replica holds its shard (or nobody yet): nothing runs it here, and only its owner
      // writes its status and removes the finalizer. Its runtime, if any, was stopped before the
      // shard Lease went; this only makes sure.
      this.written.delete(name);
      await this.stopRuntime(name);
      return;
    }
    if (rc.metadata?.deletionTimestamp) {
      if (await this.stopRuntime(name)) {
        this.say(rc, 'Normal', 'RuntimeStopped', 'stopped the runtime: the RemoteCluster is being deleted', 'Stop');
      }
      await this.removeFinalizer(rc, ctx.signal);
      return;
    }
    if (!rc.metadata?.finalizers?.includes(FINALIZER)) {
      // Before anything is spawned, so a deletion can never leave a runtime behind. The rest of
      // this reconcile goes on with the object as the patch left it: a status written next is
      // written over that version, which the cache may show before it shows the status.
      rc = await this.addFinalizer(rc, ctx.signal);
    }
    if (RESERVED_CLUSTER_NAMES.includes(name)) {
      const message = `the name "${name}" is reserved for the manage cluster's own runtime; rename this RemoteCluster`;
      this.problem(rc, 'ReservedName', message, false);
      await this.writeStatus(rc, { status: 'False', reason: 'ReservedName', message }, undefined, ctx.signal);
      return;
    }

    let connection: ClusterConnectionConfig;
    try {
      connection = this.registry.parse(this.readKubeconfig(rc, ctx.cacheOf('v1', 'Secret')));
    } catch (err) {
      if (!(err instanceof SecretSourceError || err instanceof KubeconfigError)) throw err;
      // No usable credentials any more: nothing may keep running on the old ones.
      const stopped = await this.stopRuntime(name);
      this.problem(rc, err.reason, err.message, stopped);
      await this.writeStatus(rc, { status: 'False', reason: err.reason, message: err.message }, undefined, ctx.signal);
      this.logger.warn(`${name}: ${err.reason}: ${err.message}`);
      return; // the Secret watch brings us back when it is fixed
    }

    const running = this.registry.status(name);
    if (running && running.identity !== connection.identity) {
      this.logger.log(`${name}: kubeconfig changed, restarting its runtime`);
      const ref = rc.spec.kubeConfig.secretRef;
      const note = `the kubeconfig in Secret ${ref.namespace}/${ref.name} changed; restarting the runtime`;
      this.say(rc, 'Normal', 'KubeconfigChanged', note, 'Restart');
      await this.stopRuntime(name);
    }
    // Stopping a runtime takes a while; if this replica stopped running meanwhile (its leadership
    // or shard went, its controller stopped and aborted this reconcile), nothing may start here.
    if (ctx.signal.aborted) return;
    if (!this.registry.has(name)) {
      try {
        await this.registry.spawn(name, connection, {
          timeoutMs: this.options.spawnTimeoutMs ?? 30_000,
          signal: ctx.signal,
        });
      } catch (err) {
        if (ctx.signal.aborted) return; // stopped meanwhile: the spawn was abandoned, nothing runs
        if (err instanceof ClusterNotOwnedError) return; // the shard went meanwhile: its event brings us back
        if (!(err instanceof ClusterSpawnError)) throw err;
        const message = `the runtime did not start: ${describeFailure(err.cause)}`;
        this.say(rc, 'Warning', 'RuntimeFailed', message, 'Start');
        await this.writeStatus(rc, { status: 'False', reason: 'RuntimeFailed', message }, undefined, ctx.signal);
        throw err; // retried with backoff
      }
      this.problems.delete(name);
      this.say(rc, 'Normal', 'RuntimeStarted', 'started the runtime; connecting to the cluster', 'Start');
    }

    const status = this.registry.status(name);
    // A runtime that is only starting again (an app restart, a new leader, a shard handed over)
    // says nothing new: the Ready it had stays until the runtime decides, so a restart is not a
    // flap. Only a new owner is written at once.
    if (status?.phase === 'starting' && rc.status?.conditions?.some((c) => c.type === 'Ready')) {
      await this.writeOwner(rc, ctx.signal);
      return;
    }
    await this.writeStatus(rc, readyFrom(status, connection.auth.type), reconcilersFrom(status), ctx.signal);
  }

  /** RemoteClusters whose Ready is not decided yet: their runtime is still starting. /readyz
   * waits for these only; a decided failure (a bad kubeconfig, a degraded cluster) is an answer. */
  pending(): string[] | undefined {
    const runtime = this.orchestrator.manageRuntime;
    if (!runtime?.status().synced) return undefined;
    const objects = (runtime.cache(API_VERSION, KIND)?.list() ?? []) as RemoteCluster[];
    return (
      objects
        .filter((rc) => !rc.metadata?.deletionTimestamp)
        // With sharding, a replica answers for the clusters it owns only.
        .filter((rc) => this.orchestrator.owns(rc.metadata?.name ?? ''))
        .filter((rc) => {
          const name = rc.metadata?.name ?? '';
          const phase = this.registry.status(name)?.phase;
          if (phase === 'synced' || phase === 'degraded') return false;
          const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
          const decided = ready?.status === 'False' && ready.observedGeneration === rc.metadata?.generation;
          return !(phase === undefined && decided);
        })
        .map((rc) => rc.metadata?.name ?? '')
    );
  }

  private readKubeconfig(rc: RemoteCluster, secrets: CacheReader | undefined): string {
    const ref = rc.spec?.kubeConfig?.secretRef;
    if (typeof ref?.namespace !== 'string' || typeof ref.name !== 'string' || typeof ref.key !== 'string') {
      throw new SecretSourceError('InvalidSecretRef', 'spec.kubeConfig.secretRef needs namespace, name and key');
    }
    if (ref.namespace !== this.options.secretNamespace) {
      throw new SecretSourceError(
        'SecretNamespaceNotWatched',
        `Secret ${ref.namespace}/${ref.name} is outside the namespace this app reads kubeconfigs from (${this.options.secretNamespace})`,
      );
    }
    return kubeconfigFromSecret(secrets?.get(ref.namespace, ref.name), ref);
  }

  /** Stops the runtime of `name` if one runs; true when one did. */
  private async stopRuntime(name: string): Promise<boolean> {
    if (!this.registry.has(name)) return false;
    try {
      // Bounded: a dead cluster must not hold a deletion or a restart.
      await this.registry.stop(name, { timeoutMs: this.options.stopTimeoutMs ?? 10_000 });
    } catch (err) {
      this.logger.warn(`${name}: runtime did not stop cleanly: ${describeFailure(err)}`);
    }
    return true;
  }

  /** A kubeconfig that cannot be used: a Warning once per distinct problem, not per reconcile. */
  private problem(rc: RemoteCluster, reason: string, message: string, stopped: boolean): void {
    const name = rc.metadata!.name!;
    const said = `${reason}\u0000${message}`;
    if (this.problems.get(name) === said && !stopped) return;
    this.problems.set(name, said);
    const note = stopped ? `${message}; stopped the runtime, it has no usable credentials` : message;
    this.say(rc, 'Warning', reason, note, stopped ? 'Stop' : 'ReadKubeconfig');
  }

  /** Tells a runtime's health transition as an event: Degraded when it fails (or fails for
   * another reason), Recovered when it is synced again. Repeats say nothing. */
  private tell(t: ClusterTransition): void {
    const before = this.told.get(t.cluster);
    if (t.to === 'degraded' && t.cause) {
      if (before?.phase === 'degraded' && before.reason === t.cause.reason) return;
      this.told.set(t.cluster, { phase: 'degraded', reason: t.cause.reason });
      this.say(t.cluster, 'Warning', 'Degraded', t.cause.message, 'Connect');
    } else if (t.to === 'synced') {
      if (before?.phase === 'synced') return;
      this.told.set(t.cluster, { phase: 'synced' });
      if (before?.phase === 'degraded') {
        this.say(t.cluster, 'Normal', 'Recovered', `connected again; caches synced (was ${before.reason})`, 'Connect');
      }
    }
  }

  /** An event on a RemoteCluster (given, or by name as the manage cache has it): its uid is what
   * kubectl describe looks for. */
  private say(object: RemoteCluster | string, type: EventType, reason: string, note: string, action: string): void {
    const rc =
      typeof object === 'string'
        ? this.orchestrator.manageRuntime?.cache(API_VERSION, KIND)?.getByName(undefined, object)
        : object;
    const name = typeof object === 'string' ? object : (object.metadata?.name ?? '');
    const { uid, resourceVersion } = rc?.metadata ?? {};
    this.events.event({ apiVersion: API_VERSION, kind: KIND, name, uid, resourceVersion }, type, reason, note, {
      action,
    });
  }

  /** Every RemoteCluster's Ready, from the manage cache (none on a standby replica). */
  readiness(): { name: string; ready: boolean; reason?: string }[] {
    const objects = (this.orchestrator.manageRuntime?.cache(API_VERSION, KIND)?.list() ?? []) as RemoteCluster[];
    return objects.map((rc) => {
      const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
      return { name: rc.metadata?.name ?? '', ready: ready?.status === 'True', reason: ready?.reason };
    });
  }

  private async addFinalizer(rc: RemoteCluster, signal: AbortSignal): Promise<RemoteCluster> {
    const current = rc.metadata?.finalizers;
    // A JSON patch guarded by the resourceVersion: other finalizers are never overwritten.
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: rc.metadata?.resourceVersion },
      current
        ? { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER }
        : { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
    ];
    const patched = await this.patch(rc, ops, signal);
    return patched?.metadata?.resourceVersion ? patched : rc;
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

  private async patch(rc: RemoteCluster, ops: object[], signal: AbortSignal): Promise<RemoteCluster | undefined> {
    return this.manage.request<RemoteCluster | undefined>(
      'PATCH',
      `${PATH}/${encodeURIComponent(rc.metadata!.name!)}`,
      {
        body: ops,
        contentType: 'application/json-patch+json',
        signal,
      },
    );
  }

  /** The status as we know it: our own last write until the cache has moved past it. */
  private current(rc: RemoteCluster): RemoteCluster['status'] {
    const ours = this.written.get(rc.metadata!.name!);
    return ours?.before.has(rc.metadata?.resourceVersion ?? '') ? ours.status : rc.status;
  }

  /** Writes Ready (and, with a runtime, ReconcilersHealthy) and the owner when anything differs. */
  private async writeStatus(
    rc: RemoteCluster,
    ready: ConditionValue,
    reconcilers: ConditionValue | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const name = rc.metadata!.name!;
    const generation = rc.metadata?.generation;
    const current = this.current(rc);
    const owner = this.orchestrator.identity ?? current?.owner;
    let conditions = setCondition(current?.conditions, { type: 'Ready', ...ready, observedGeneration: generation });
    conditions = reconcilers
      ? setCondition(conditions, { type: 'ReconcilersHealthy', ...reconcilers, observedGeneration: generation })
      : conditions.filter((c) => c.type !== 'ReconcilersHealthy');
    if (
      sameConditions(conditions, current?.conditions) &&
      current?.observedGeneration === generation &&
      current?.owner === owner
    ) {
      return;
    }
    const previous = current?.conditions?.find((c) => c.type === 'Ready');
    if (previous?.status !== ready.status || previous.reason !== ready.reason) {
      this.logger.log(`${name}: Ready=${ready.status} (${ready.reason})`);
    }
    await this.patchStatus(rc, { observedGeneration: generation, conditions, ...(owner ? { owner } : {}) }, signal);
  }

  /** A new owner of a cluster whose runtime is starting: only `owner` changes (one write). */
  private async writeOwner(rc: RemoteCluster, signal: AbortSignal): Promise<void> {
    const owner = this.orchestrator.identity;
    const current = this.current(rc);
    if (!owner || current?.owner === owner) return;
    this.logger.log(`${rc.metadata!.name!}: owner ${owner}`);
    await this.patchStatus(rc, { ...current, owner }, signal);
  }

  private async patchStatus(rc: RemoteCluster, status: RemoteCluster['status'], signal: AbortSignal): Promise<void> {
    const name = rc.metadata!.name!;
    const over = rc.metadata?.resourceVersion ?? '';
    // Written over a version the cache showed in place of our last write: that write comes before
    // this one too (a cache that shows it next has not seen this one).
    const ours = this.written.get(name);
    const before = new Set<string>([over]);
    if (ours?.before.has(over)) for (const v of [...ours.before, ours.written]) if (v) before.add(v);
    this.written.delete(name);
    let answer: RemoteCluster | undefined;
    try {
      answer = await this.manage.request<RemoteCluster>('PATCH', `${PATH}/${encodeURIComponent(name)}/status`, {
        // A merge patch replaces the list whole: conditions we do not own are gone by design.
        body: { status },
        contentType: 'application/merge-patch+json',
        signal,
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return; // deleted meanwhile
      throw err;
    }
    this.written.set(name, { before, status, written: answer?.metadata?.resourceVersion });
  }
}

/** Ready from the runtime's real state: synced, or why not. A 401 is told apart by the kind of
 * credential that was rejected, since that is what the operator has to fix. */
export function readyFrom(status: ClusterStatus | undefined, credential?: string): ConditionValue {
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
    case 'stopped':
      return { status: 'False', reason: 'Stopping', message: 'the runtime is stopping' };
    default:
      return { status: 'Unknown', reason: 'Connecting', message: 'connecting; caches not synced yet' };
  }
}

/** Whether the cluster's reconcilers succeed: failures show on the object, not only in metrics. */
export function reconcilersFrom(status: ClusterStatus | undefined): ConditionValue | undefined {
  if (!status) return undefined;
  const failing = status.controllers.filter((c) => c.failing > 0);
  if (failing.length === 0) {
    return { status: 'True', reason: 'Succeeding', message: 'no reconcile is failing' };
  }
  const last = failing
    .map((c) => ({ controller: c.name, ...c.lastError! }))
    .sort((a, b) => b.at.getTime() - a.at.getTime())[0]!;
  const counts = failing.map((c) => `${c.name}: ${c.failing} failing`).join(', ');
  return {
    status: 'False',
    reason: last.reason,
    // Bounded where the condition is set (setCondition).
    message: `${counts}; last: ${last.controller} ${last.key}: ${last.message}`,
  };
}
