import { Inject, Logger } from '@nestjs/common';
import {
  API_VERSION,
  ClusterNotRunningError,
  describeFailure,
  failureReason,
  KIND,
  KubeApiError,
  Orchestrator,
  Reconciler,
  RemoteClusterRegistry,
  type CacheReader,
  type ClusterClient,
  type KubeObject,
  type Reconcile,
  type ReconcileContext,
  type ReconcileRequest,
  type ReconcilerOptions,
  type ReconcileResult,
} from '../../index.js';
import { SETTINGS, type Settings } from '../settings.js';
import {
  RM_API_VERSION,
  RM_FINALIZER,
  RM_KIND,
  REMOVING,
  rmPath,
  splitManifestKey,
  type ClusterManifestStatus,
  type RemoteManifest,
  type RemovalStatus,
} from './api.js';
import { ApplyState } from './apply-state.js';
import { ClusterObjects, REMOTE_REQUEST_TIMEOUT_MS } from './cluster-objects.js';
import { ManifestEvents } from './events.js';
import { ManifestHub, type ApplyResult, type Removal } from './manifest-hub.js';
import { describeId, idOf, nameKey, sameKey, type ObjectId } from './markers.js';
import { inheritOwned, mayBeOurs, REFUSALS } from './provenance.js';
import { remoteClusterWatch, selectTargets } from './selection.js';
import { retireClusterEntry, writeClusterEntry } from './status-writes.js';
import { sumUp } from './sum-up.js';
import type { Target } from './summary.js';

/** Failures of the cluster rather than of an object. */
const UNREACHABLE = new Set(['Unreachable', 'Timeout', 'Aborted', 'NetworkNotAllowed', 'ProxyRefused', 'TLSError']);

/** Cluster-scoped kinds others depend on go first, and are removed last. */
const FIRST = new Set(['Namespace', 'CustomResourceDefinition']);

interface Ref {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * The manage reconciler of RemoteManifests: it picks the clusters, applies the manifests to each
 * Ready one through the registry (`withClient`), removes what is no longer wanted, publishes what
 * it applied to the hub (the clusters' remote reconcilers mirror it into status), and sums the
 * clusters' reports up in Applied, Available and Degraded. Deleting a RemoteManifest removes
 * what it applied; a cluster that cannot be reached holds that up for a bounded time only.
 */
@Reconciler({
  apiVersion: RM_API_VERSION,
  kind: RM_KIND,
  name: 'remotemanifest',
  timeoutMs: 120_000,
  backoff: { baseMs: 500, maxMs: 60_000 },
})
export class RemoteManifestReconciler implements Reconcile<RemoteManifest> {
  private readonly logger = new Logger('RemoteManifest');
  private readonly state = new ApplyState();
  private readonly events: ManifestEvents;

  constructor(
    private readonly registry: RemoteClusterRegistry,
    @Inject(ManifestHub) private readonly hub: ManifestHub,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly orchestrator: Orchestrator,
  ) {
    this.events = new ManifestEvents(settings.identity);
  }

  /** With sharding every replica runs this reconciler, each for the clusters it owns only. */
  private get sharded(): boolean {
    return this.orchestrator.sharded;
  }

  /** Whether this replica handles `cluster`: always without sharding; with sharding, while it
   * holds the cluster's shard. A cluster of another replica is neither applied, pruned nor
   * reported here. */
  private mine(cluster: string): boolean {
    return this.orchestrator.owns(cluster);
  }

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return {
      concurrency: this.settings.remoteManifestConcurrency,
      watches: [remoteClusterWatch(this.settings.remoteClusterSelector)],
      sources: [
        (enqueue) =>
          this.hub.onEvent((event) => {
            const keys = event.type === 'drift' ? [event.key] : this.state.keysOf(event.cluster);
            for (const key of keys) {
              this.state.mark(key, event.cluster);
              enqueue(splitManifestKey(key));
            }
          }),
      ],
    };
  }

  async reconcile(request: ReconcileRequest, ctx: ReconcileContext<RemoteManifest>): Promise<ReconcileResult> {
    const rm = ctx.cache.get(request.namespace, request.name);
    const key = `${request.namespace}/${request.name}`;
    if (!rm) {
      // Gone from the API, so our finalizer was removed: nothing of it is left to do.
      this.forget(key);
      return;
    }
    const clusters = ctx.cacheOf(API_VERSION, KIND)!;
    if (rm.metadata?.deletionTimestamp) {
      return this.sharded ? this.finalizeShare(rm, key, clusters, ctx) : this.finalize(rm, key, clusters, ctx);
    }
    if (!rm.metadata?.finalizers?.includes(RM_FINALIZER)) {
      try {
        await this.addFinalizer(rm, ctx.client);
      } catch (err) {
        // With sharding every replica adds it at once: the others lose the resourceVersion
        // test, and the change (the finalizer added) brings the object back anyway.
        if (!(this.sharded && err instanceof KubeApiError && (err.status === 409 || err.status === 422))) throw err;
        return { requeueAfterMs: 500 };
      }
    }

    const { targets, emptySelector } = selectTargets(rm, clusters, this.registry);
    this.state.selected(
      key,
      targets.map((t) => t.cluster),
    );
    const releasing = await this.releaseUnselected(rm, key, targets, clusters, ctx);
    await Promise.all(
      targets
        .filter((t) => t.state === 'Ready' && this.mine(t.cluster))
        .map((t) => this.applyTo(rm, key, t.cluster, ctx)),
    );
    // With sharding, the summary has one writer: the leader's RemoteManifestSummaryReconciler
    // (it does not know of cleanups pending on other replicas, so they are logged here).
    for (const r of this.sharded ? releasing : []) {
      this.logger.warn(`${key}: could not remove objects from ${r.cluster}, no longer selected: ${r.message}`);
    }
    const recheck = this.sharded
      ? undefined
      : await sumUp(
          rm,
          {
            targets,
            emptySelector,
            releasing,
            progressingSince: (generation) => this.state.progressingSince(key, generation),
          },
          ctx.client,
          this.logger,
        );
    const retry = this.state.nextRetry(key);
    if (!recheck || !retry) return recheck ?? retry;
    return { requeueAfterMs: Math.min(recheck.requeueAfterMs, retry.requeueAfterMs) };
  }

  /** Applies every manifest to one cluster, unless nothing asks for it, and publishes the outcome. */
  private async applyTo(rm: RemoteManifest, key: string, cluster: string, ctx: ReconcileContext): Promise<void> {
    const ref = refOf(rm);
    const generation = rm.metadata?.generation ?? 0;
    if (!this.state.needsApply(key, cluster, generation, ref.uid)) return;
    const seen = this.state.marks(key, cluster);
    const before = this.state.get(key, cluster);
    let outcome: { results: ApplyResult[]; pending: Removal[] };
    try {
      outcome = await this.registry.withClient(cluster, async (client) => {
        const objects = new ClusterObjects(client.withSignal(ctx.signal), this.hub.side(cluster), ref);
        // What this RemoteManifest may have there, as its record says before these applies.
        const previously = this.appliedBefore(rm, key, cluster);
        const tried: ApplyResult[] = [];
        const listed = new Set<string>();
        let unreachable: ApplyResult | undefined;
        for (const manifest of ordered(rm.spec?.manifests ?? [])) {
          const result =
            invalid(manifest, listed) ??
            // A cluster that did not answer for one object is not asked again for each of the
            // others: the reconcile stays within its deadline, the retry comes with backoff.
            (unreachable
              ? { id: idOf(manifest), applied: false, reason: unreachable.reason, message: unreachable.message }
              : await objects.apply(manifest));
          if (UNREACHABLE.has(result.reason)) unreachable ??= result;
          tried.push(result);
        }
        const results = inheritOwned(tried, previously);
        // What was applied before and is no longer in the list goes. Compared with the namespace
        // defaulted: a result of the unreachable path has the manifest's own (maybe none).
        const wanted = new Set(results.map((r) => sameKey(r.id)));
        // A listed object the cluster never answered for has the manifest's namespace, which the
        // apiserver ignores for a cluster-scoped kind: a recorded object of its name waits.
        const unsure = new Set(results.filter((r) => !r.desired).map((r) => nameKey(r.id)));
        const recorded = new Map(entryOf(rm, cluster)?.removals?.map((r) => [sameKey(r), r]) ?? []);
        const memory = new Map(this.state.get(key, cluster)?.pending.map((p) => [sameKey(p.id), p]) ?? []);
        const stale = ordered(previously.filter((id) => !wanted.has(sameKey(id)) && !unsure.has(nameKey(id))));
        // The status is the record removal works from, after a restart too: every stale object is
        // in the first publish, and stays until it is gone. One that failed before keeps its
        // entry as it was, so a removal that keeps failing writes nothing new.
        const removals = stale.map((id): Removal =>
          unreachable
            ? { id, reason: unreachable.reason, message: 'the cluster did not answer' }
            : { ...(memory.get(sameKey(id)) ?? removalOf(id, recorded.get(sameKey(id)))), id },
        );
        // A reconcile past its deadline runs on until its awaits return; a newer one may have
        // published meanwhile, which this one's record must not replace.
        const publish = (left: Removal[]): void =>
          void (
            !ctx.signal.aborted &&
            this.hub.publish(cluster, {
              key,
              uid: ref.uid,
              generation,
              results,
              removals: left,
              feedback: rm.spec?.statusFeedback ?? [],
            })
          );
        // Published before anything is pruned, so the cluster never takes a removal of ours for drift.
        publish(removals);
        const pending: Removal[] = [];
        for (const removal of [...removals].reverse()) {
          if (ctx.signal.aborted) break;
          if (unreachable) {
            pending.unshift({ ...removal, reason: unreachable.reason, message: 'the cluster did not answer' });
            continue;
          }
          try {
            await objects.release(removal.id, rm.spec?.deletionPolicy ?? 'Delete');
          } catch (err) {
            pending.unshift({ id: removal.id, reason: failureReason(err), message: describeFailure(err) });
            this.logger.warn(
              `${key}: could not remove ${describeId(removal.id)} from ${cluster}: ${describeFailure(err)}`,
            );
            if (UNREACHABLE.has(failureReason(err))) {
              unreachable = { id: removal.id, applied: false, reason: failureReason(err) };
            }
          }
        }
        if (JSON.stringify(pending) !== JSON.stringify(removals)) publish(pending);
        return { results, pending };
      });
    } catch (err) {
      // Stopping right now: its RemoteCluster's next Ready brings this back.
      if (err instanceof ClusterNotRunningError) return;
      throw err;
    }
    if (ctx.signal.aborted) return;
    this.state.applied(key, cluster, { generation, uid: ref.uid, seen, ...outcome });
    // Said once per change: a conflict retried every minute is not news every minute.
    const failures = (results: ApplyResult[] = []): string =>
      results
        .filter((r) => !r.applied)
        .map((r) => `${describeId(r.id)}: ${r.reason}`)
        .join('; ');
    const now = failures(outcome.results);
    if (now && now !== failures(before?.results)) this.logger.warn(`${key}: not applied to ${cluster}: ${now}`);
  }

  /** Objects this RemoteManifest may have in `cluster`, from our own record: the entries of its
   * status (its removals still to do too) and of this process's applies that may have left an
   * object of ours there (mayBeOurs: applied, or failed with `owned`, which a failure that never
   * looked at its object inherits from this record). Never what the cluster's objects claim:
   * anyone who may label an object there (and write its managedFields) could otherwise have it
   * deleted with our credentials. Removal checks each one's owner, so an entry that is not ours
   * costs a read (and waits, like any removal, while that read is refused). */
  private appliedBefore(rm: RemoteManifest, key: string, cluster: string): ObjectId[] {
    const ids = new Map<string, ObjectId>();
    // A manifest refused for its shape (no name, no kind) names nothing to remove.
    const add = (from: ObjectId): void => {
      // The id only: an entry of the status carries its outcome too.
      const id = { apiVersion: from.apiVersion, kind: from.kind, namespace: from.namespace, name: from.name };
      if (id.apiVersion && id.kind && id.name && !ids.has(sameKey(id))) ids.set(sameKey(id), id);
    };
    entryOf(rm, cluster)?.objects.filter(mayBeOurs).forEach(add);
    const applied = this.state.get(key, cluster);
    applied?.results.filter(mayBeOurs).forEach((r) => add(r.id));
    entryOf(rm, cluster)?.removals?.forEach(add);
    applied?.pending.forEach((p) => add(p.id));
    return [...ids.values()];
  }

  /** Clusters applied to before that are no longer selected: their objects go (or are orphaned). */
  private async releaseUnselected(
    rm: RemoteManifest,
    key: string,
    targets: Target[],
    clusters: CacheReader,
    ctx: ReconcileContext,
  ): Promise<{ cluster: string; message: string }[]> {
    // A cluster whose RemoteCluster is gone is no longer selected, even when named: what was
    // applied there is out of reach and its report is stale.
    const selected = new Set(targets.filter((t) => t.state !== 'NotFound').map((t) => t.cluster));
    const previous = new Set([
      ...(rm.status?.clusters ?? []).map((c) => c.cluster),
      ...this.state.clusters(key),
      ...this.hub.clustersOf(key),
    ]);
    const releasing: { cluster: string; message: string }[] = [];
    // With sharding, the clusters of other replicas are theirs to release.
    for (const cluster of [...previous].filter((c) => !selected.has(c) && this.mine(c))) {
      this.hub.withdraw(cluster, key);
      try {
        await this.release(rm, key, cluster, ctx, REMOTE_REQUEST_TIMEOUT_MS);
      } catch (err) {
        const since = this.state.releaseSince(key, cluster);
        const rc = clusters.get(undefined, cluster);
        const gone = !rc || !!rc.metadata?.deletionTimestamp;
        if (!gone && Date.now() - since < this.settings.remoteManifestDeleteTimeoutMs) {
          releasing.push({ cluster, message: describeFailure(err) });
          continue;
        }
        await this.leftBehind(rm, key, cluster, describeFailure(err), ctx.client);
      }
      if (entryOf(rm, cluster)) await retireClusterEntry(ctx.client, refOf(rm), cluster);
      this.state.drop(key, cluster);
    }
    return releasing;
  }

  /** Removes (or orphans) everything this RemoteManifest may have in `cluster`; throws when the
   * cluster cannot be reached or refuses. */
  private async release(
    rm: RemoteManifest,
    key: string,
    cluster: string,
    ctx: ReconcileContext,
    timeoutMs: number,
  ): Promise<void> {
    if (!this.registry.has(cluster)) throw new ClusterNotRunningError(cluster);
    await this.registry.withClient(cluster, async (client) => {
      const objects = new ClusterObjects(client.withSignal(ctx.signal), this.hub.side(cluster), refOf(rm), timeoutMs);
      const policy = rm.spec?.deletionPolicy ?? 'Delete';
      const known = this.appliedBefore(rm, key, cluster);
      const knownKeys = new Set(known.map(sameKey));
      // A refusal (we may no longer read or delete one) does not keep the others: it is thrown
      // once every object was tried, so the deletion still waits and says what it left behind.
      let refused: Error | undefined;
      for (const id of ordered(known).reverse()) {
        try {
          await objects.release(id, policy);
        } catch (err) {
          if (!REFUSALS.has(failureReason(err))) throw err;
          refused ??= err instanceof Error ? err : new Error(String(err));
        }
      }
      // What the manifests name may have been applied without being recorded (a crash in
      // between): a look costs a read. What we may not even read was not applied by us.
      for (const manifest of ordered(rm.spec?.manifests ?? []).reverse()) {
        if (invalid(manifest, new Set())) continue;
        try {
          const { id } = await objects.locate(manifest);
          if (!knownKeys.has(sameKey(id))) await objects.release(id, policy);
        } catch (err) {
          if (!REFUSALS.has(failureReason(err))) throw err;
        }
      }
      if (refused) throw refused;
    });
  }

  /** Deletion: remove what was applied everywhere, or give up on a cluster once the deletion
   * timeout has passed (at once for a cluster that no longer exists), then let the object go. */
  private async finalize(
    rm: RemoteManifest,
    key: string,
    clusters: CacheReader,
    ctx: ReconcileContext,
  ): Promise<ReconcileResult> {
    if (!rm.metadata?.finalizers?.includes(RM_FINALIZER)) return;
    for (const cluster of this.hub.clustersOf(key)) this.hub.withdraw(cluster, key);
    const { targets } = selectTargets(rm, clusters, this.registry);
    const all = new Set([
      ...(rm.status?.clusters ?? []).map((c) => c.cluster),
      ...this.state.clusters(key),
      // A Ready cluster may hold objects applied but not recorded yet (a crash in between); one
      // that never was Ready for this RemoteManifest holds nothing of it.
      ...targets.filter((t) => t.state === 'Ready').map((t) => t.cluster),
    ]);
    const deadline = Date.parse(String(rm.metadata.deletionTimestamp)) + this.settings.remoteManifestDeleteTimeoutMs;
    const failed: { cluster: string; why: string; waits: boolean }[] = [];
    await Promise.all(
      [...all].map(async (cluster) => {
        const remaining = deadline - Date.now();
        try {
          await this.release(rm, key, cluster, ctx, Math.max(1_000, Math.min(REMOTE_REQUEST_TIMEOUT_MS, remaining)));
        } catch (err) {
          const rc = clusters.get(undefined, cluster);
          failed.push({ cluster, why: describeFailure(err), waits: !!rc && !rc.metadata?.deletionTimestamp });
        }
      }),
    );
    if (ctx.signal.aborted) return;
    const remaining = deadline - Date.now();
    if (failed.some((f) => f.waits) && remaining > 0) {
      for (const f of failed) this.logger.warn(`${key}: deleting: ${f.cluster} not cleaned yet: ${f.why}`);
      return { requeueAfterMs: Math.min(remaining, 2_000) };
    }
    for (const f of failed) await this.leftBehind(rm, key, f.cluster, f.why, ctx.client);
    await this.deleted(rm, key, failed, ctx.client);
  }

  /**
   * Deletion with sharding: each replica cleans the clusters it owns and says so in their
   * entries of status.clusters (`cleanedUp`, written by the cluster's own field manager). The
   * finalizer goes once every cluster that may hold something of it (an entry, or selected and
   * Ready) is cleaned up, whichever replica sees that first; or once the deletion timeout has
   * passed (each owner says what it left behind in its own clusters).
   */
  private async finalizeShare(
    rm: RemoteManifest,
    key: string,
    clusters: CacheReader,
    ctx: ReconcileContext,
  ): Promise<ReconcileResult> {
    if (!rm.metadata?.finalizers?.includes(RM_FINALIZER)) return;
    for (const cluster of this.hub.clustersOf(key)) this.hub.withdraw(cluster, key);
    const entries = new Map((rm.status?.clusters ?? []).map((c) => [c.cluster, c]));
    // Every cluster that may hold objects of it: those that reported, and those selected and
    // Ready (applied to, maybe, but not reported yet), whoever owns them.
    const concerned = new Set([
      ...entries.keys(),
      ...this.state.clusters(key),
      ...selectTargets(rm, clusters)
        .targets.filter((t) => t.state === 'Ready')
        .map((t) => t.cluster),
    ]);
    const cleaned = new Set([...entries.values()].filter((e) => e.cleanedUp).map((e) => e.cluster));
    const mine = [...concerned].filter((c) => !cleaned.has(c) && this.mine(c));
    const deadline = Date.parse(String(rm.metadata.deletionTimestamp)) + this.settings.remoteManifestDeleteTimeoutMs;
    const generation = rm.metadata.generation ?? 0;
    const failed: { cluster: string; why: string; waits: boolean }[] = [];
    await Promise.all(
      mine.map(async (cluster) => {
        const remaining = deadline - Date.now();
        try {
          await this.release(rm, key, cluster, ctx, Math.max(1_000, Math.min(REMOTE_REQUEST_TIMEOUT_MS, remaining)));
        } catch (err) {
          const rc = clusters.get(undefined, cluster);
          failed.push({ cluster, why: describeFailure(err), waits: !!rc && !rc.metadata?.deletionTimestamp });
          return;
        }
        await writeClusterEntry(ctx.client, refOf(rm), {
          cluster,
          observedGeneration: generation,
          objects: [],
          cleanedUp: true,
        });
        cleaned.add(cluster);
        this.state.drop(key, cluster);
      }),
    );
    if (ctx.signal.aborted) return;
    let remaining = deadline - Date.now();
    if (failed.some((f) => f.waits) && remaining > 0) {
      for (const f of failed) this.logger.warn(`${key}: deleting: ${f.cluster} not cleaned yet: ${f.why}`);
      return { requeueAfterMs: Math.min(remaining, 2_000) };
    }
    for (const f of failed) {
      await this.leftBehind(rm, key, f.cluster, f.why, ctx.client);
      cleaned.add(f.cluster);
      this.state.drop(key, f.cluster);
    }
    // The other replicas' clusters: their owners say when they are cleaned up (the status change
    // brings this back), or the deletion timeout lets the object go without them.
    const others = [...concerned].filter((c) => !cleaned.has(c));
    remaining = deadline - Date.now();
    if (others.length > 0 && remaining > 0) return { requeueAfterMs: Math.min(remaining, 2_000) };
    if (others.length > 0) {
      this.logger.warn(
        `${key}: deleting: not waiting any longer for ${others.join(', ')} (not cleaned up by their owners)`,
      );
    }
    await this.deleted(rm, key, failed, ctx.client);
  }

  /** The finalizer goes and the RemoteManifest is forgotten; the log names what was left where. */
  private async deleted(
    rm: RemoteManifest,
    key: string,
    failed: { cluster: string }[],
    client: ClusterClient,
  ): Promise<void> {
    await this.removeFinalizer(rm, client);
    this.logger.log(
      `${key}: deleted${failed.length ? ` (left objects in ${failed.map((f) => f.cluster).join(', ')})` : ''}`,
    );
    this.forget(key);
  }

  /** Says, in the log and in an Event, what stays in a cluster that could not be cleaned. */
  private async leftBehind(
    rm: RemoteManifest,
    key: string,
    cluster: string,
    why: string,
    manage: ClusterClient,
  ): Promise<void> {
    const ids = this.appliedBefore(rm, key, cluster);
    const what = ids.length ? ids.map(describeId).join(', ') : 'whatever was applied there';
    const message = `left behind in cluster ${cluster} (${why}): ${what}`;
    this.logger.warn(`${key}: ${message}`);
    await this.events.warn(manage, rm, 'LeftBehind', message);
  }

  private async addFinalizer(rm: RemoteManifest, manage: ClusterClient): Promise<void> {
    // Guarded by the resourceVersion: other finalizers are never overwritten.
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: rm.metadata?.resourceVersion },
      rm.metadata?.finalizers
        ? { op: 'add', path: '/metadata/finalizers/-', value: RM_FINALIZER }
        : { op: 'add', path: '/metadata/finalizers', value: [RM_FINALIZER] },
    ];
    await this.patch(rm, ops, manage);
  }

  private async removeFinalizer(rm: RemoteManifest, manage: ClusterClient): Promise<void> {
    const index = rm.metadata?.finalizers?.indexOf(RM_FINALIZER) ?? -1;
    if (index < 0) return;
    // test + remove by index: removes ours only, and fails (then retries) if the list moved.
    const ops = [
      { op: 'test', path: `/metadata/finalizers/${index}`, value: RM_FINALIZER },
      { op: 'remove', path: `/metadata/finalizers/${index}` },
    ];
    try {
      await this.patch(rm, ops, manage);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
  }

  private async patch(rm: RemoteManifest, ops: object[], manage: ClusterClient): Promise<void> {
    await manage.request('PATCH', rmPath(rm.metadata!.namespace!, rm.metadata!.name!), {
      body: ops,
      contentType: 'application/json-patch+json',
    });
  }

  private forget(key: string): void {
    for (const cluster of this.hub.clustersOf(key)) this.hub.withdraw(cluster, key);
    this.state.forget(key);
  }
}

function refOf(rm: RemoteManifest): Ref {
  return { namespace: rm.metadata!.namespace!, name: rm.metadata!.name!, uid: rm.metadata!.uid ?? '' };
}

function entryOf(rm: RemoteManifest, cluster: string): ClusterManifestStatus | undefined {
  return rm.status?.clusters?.find((c) => c.cluster === cluster);
}

/** A removal as the status records it, or a new one under way. */
function removalOf(id: ObjectId, recorded: RemovalStatus | undefined): Removal {
  return recorded
    ? { id, reason: recorded.reason, ...(recorded.message ? { message: recorded.message } : {}) }
    : { id, reason: REMOVING };
}

/** Namespaces and CRDs first, the rest in the order given. */
function ordered<T extends { kind?: string }>(items: T[]): T[] {
  return [...items.filter((m) => FIRST.has(m.kind ?? '')), ...items.filter((m) => !FIRST.has(m.kind ?? ''))];
}

/** A manifest that cannot be applied as it is: its result, with the reason. `listed` collects
 * the objects named so far. */
function invalid(manifest: KubeObject, listed: Set<string>): ApplyResult | undefined {
  const id = idOf(manifest);
  const missing = ['apiVersion', 'kind', 'metadata.name'].filter((_, i) => ![id.apiVersion, id.kind, id.name][i]);
  if (missing.length) {
    return { id, applied: false, reason: 'Invalid', message: `the manifest has no ${missing.join(', ')}` };
  }
  // Two entries for one object would apply in turns: the first one wins.
  const key = sameKey(id);
  if (listed.has(key)) {
    return { id, applied: false, reason: 'Invalid', message: `${describeId(id)} is listed twice in manifests` };
  }
  listed.add(key);
  return undefined;
}
