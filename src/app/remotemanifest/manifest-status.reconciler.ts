import { Inject, type OnModuleDestroy } from '@nestjs/common';
import {
  CLUSTER_CLIENT,
  CLUSTER_NAME,
  MANAGE_CLIENT,
  Reconciler,
  type ClusterClient,
  type EventSource,
  type InformerEvent,
  type Reconcile,
  type ReconcileContext,
  type ReconcileRequest,
  type ReconcilerOptions,
} from '../../index.js';
import {
  splitManifestKey,
  type ClusterManifestStatus,
  type FeedbackRule,
  type ObjectStatus,
  type RemovalStatus,
} from './api.js';
import { covers } from './drift.js';
import { KindWatches } from './kind-watches.js';
import { ManifestHub, UNKNOWN, type ApplyResult, type Placement, type Removal } from './manifest-hub.js';
import { idKey, idOf, MANIFEST_ANNOTATION } from './markers.js';
import { liveFields } from './object-state.js';
import { writeClusterEntry } from './status-writes.js';

/**
 * The remote reconciler of RemoteManifests, one per cluster context. Its keys are RemoteManifests
 * (namespace/name in the manage cluster), so it has no primary kind: they come from the hub
 * (the manage side applied something here) and from its own watches of what was applied, which
 * select the manifest label and nothing else. It writes this cluster's entry of each
 * RemoteManifest's status through MANAGE_CLIENT, and tells the manage side when an applied
 * object was changed or deleted here, so it is applied again.
 */
@Reconciler({ name: 'remotemanifest-status', concurrency: 4, backoff: { baseMs: 500, maxMs: 60_000 } })
export class ManifestStatusReconciler implements Reconcile, OnModuleDestroy {
  private readonly stopped = new AbortController();
  private readonly watches: KindWatches;
  /** What this cluster last wrote per RemoteManifest: only changes are written. */
  private readonly written = new Map<string, string>();
  private enqueue?: (key: string) => void;

  constructor(
    @Inject(CLUSTER_NAME) private readonly cluster: string,
    @Inject(CLUSTER_CLIENT) client: ClusterClient,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    @Inject(ManifestHub) private readonly hub: ManifestHub,
  ) {
    this.watches = new KindWatches(
      client,
      this.stopped.signal,
      (event) => this.observed(event),
      (apiVersion, kind) => this.watchChanged(apiVersion, kind),
    );
  }

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return { sources: [this.attach] };
  }

  /** Takes this cluster's place in the hub once the controller runs; leaves it when it stops. */
  private readonly attach: EventSource = (enqueue) => {
    this.enqueue = (key) => enqueue(splitManifestKey(key));
    const leave = this.hub.attach(this.cluster, {
      cached: (id) => this.watches.cached(id),
      placed: (key) => this.placed(key),
    });
    // Placements made before this context started (a restart of the runtime).
    for (const placement of this.hub.placementsOf(this.cluster)) this.placed(placement.key);
    return () => {
      leave();
      this.enqueue = undefined;
    };
  };

  onModuleDestroy(): void {
    this.stopped.abort(new Error(`cluster ${this.cluster} stopped`));
  }

  async reconcile(request: ReconcileRequest, ctx: ReconcileContext): Promise<void> {
    const key = `${request.namespace}/${request.name}`;
    const placement = this.hub.placement(this.cluster, key);
    if (!placement) {
      // Not (or no longer) placed here: the manage side retires this cluster's entry.
      this.written.delete(key);
      return;
    }
    const entry: ClusterManifestStatus = {
      cluster: this.cluster,
      observedGeneration: placement.generation,
      objects: placement.results.map((r) => this.objectStatus(r, placement.feedback)),
      ...(placement.removals.length > 0 ? { removals: placement.removals.map(removalStatus) } : {}),
    };
    const text = JSON.stringify(entry);
    if (this.written.get(key) === text) return;
    const { namespace, name } = splitManifestKey(key);
    await writeClusterEntry(this.manage.withSignal(ctx.signal), { namespace, name }, entry);
    this.written.set(key, text);
  }

  /** The outcome of the apply, and what the cluster shows of the object once it is watched. */
  private objectStatus(result: ApplyResult, feedback: FeedbackRule[]): ObjectStatus {
    const { id } = result;
    const status: ObjectStatus = {
      apiVersion: id.apiVersion,
      kind: id.kind,
      ...(id.namespace ? { namespace: id.namespace } : {}),
      name: id.name,
      applied: result.applied,
      reason: result.reason,
      ...(result.message ? { message: result.message } : {}),
      // Said on every failure, false too: a record without it is from before, read as then.
      ...(result.applied ? {} : { owned: result.owned === true }),
      ...(result.generation !== undefined ? { generation: result.generation } : {}),
    };
    if (!result.applied) return status;
    const live = this.watches.cached(id);
    if (live === UNKNOWN) {
      const failure = this.watches.failure(id.apiVersion, id.kind);
      return failure ? { ...status, message: `its state is not mirrored: ${failure}` } : status;
    }
    // Not seen yet (the watch is behind the apply): the apply's answer stands until it is.
    return live ? { ...status, ...liveFields(live, feedback) } : status;
  }

  /** A placement changed: watch its kinds, and mirror it. */
  private placed(key: string): void {
    const placement = this.hub.placement(this.cluster, key);
    for (const r of placement?.results ?? []) if (r.applied) this.watches.ensure(r.id.apiVersion, r.id.kind);
    this.enqueue?.(key);
  }

  /** An applied object changed here: mirror it, and if it no longer is what was applied, ask the
   * manage side to apply it again. Edge-triggered on purpose: a change the apply itself made
   * shows up as an event that matches what was applied. */
  private observed(event: InformerEvent): void {
    const key = event.object.metadata?.annotations?.[MANIFEST_ANNOTATION];
    if (!key) return;
    this.enqueue?.(key);
    const placement = this.hub.placement(this.cluster, key);
    const applied = placement && appliedResult(placement, event);
    if (!applied?.desired) return;
    // A delete event is also what the label's removal looks like: the object left our watch.
    const drifted =
      event.type === 'delete'
        ? event.object.metadata?.uid === applied.uid || applied.uid === undefined
        : !covers(event.object, applied.desired);
    if (drifted) this.hub.drifted(this.cluster, key);
  }

  /** A watch synced or failed: the placements with objects of that kind say so. */
  private watchChanged(apiVersion: string, kind: string): void {
    for (const placement of this.hub.placementsOf(this.cluster)) {
      if (placement.results.some((r) => r.id.apiVersion === apiVersion && r.id.kind === kind)) {
        this.enqueue?.(placement.key);
      }
    }
  }
}

function removalStatus({ id, reason, message }: Removal): RemovalStatus {
  return {
    apiVersion: id.apiVersion,
    kind: id.kind,
    ...(id.namespace ? { namespace: id.namespace } : {}),
    name: id.name,
    reason,
    ...(message ? { message } : {}),
  };
}

function appliedResult(placement: Placement, event: InformerEvent): ApplyResult | undefined {
  const key = idKey(idOf(event.object));
  return placement.results.find((r) => r.applied && idKey(r.id) === key);
}
