import { Inject, Logger } from '@nestjs/common';
import {
  API_VERSION,
  KIND,
  Reconciler,
  type Reconcile,
  type ReconcileContext,
  type ReconcileRequest,
  type ReconcilerOptions,
  type ReconcileResult,
} from '../../index.js';
import { SETTINGS, type Settings } from '../settings.js';
import { RM_API_VERSION, RM_KIND, type RemoteManifest } from './api.js';
import { remoteClusterWatch, selectTargets } from './selection.js';
import { sumUp } from './sum-up.js';

/**
 * With sharding, the one writer of RemoteManifests' Applied, Available and Degraded: a singleton
 * manage reconciler (it runs on the replica holding the leader Lease). Every replica applies to
 * the clusters it owns and its clusters' runtimes write their own entries of status.clusters;
 * this sums up all the entries of the object, so replicas never write conflicting summaries.
 * A selected cluster counts as Ready when its RemoteCluster says Ready=True (its runtime runs on
 * its owner, wherever that is). Without sharding the RemoteManifestReconciler sums up itself and
 * this reconciler is not registered.
 */
@Reconciler({
  apiVersion: RM_API_VERSION,
  kind: RM_KIND,
  name: 'remotemanifest-summary',
  singleton: true,
  backoff: { baseMs: 500, maxMs: 60_000 },
})
export class RemoteManifestSummaryReconciler implements Reconcile<RemoteManifest> {
  private readonly logger = new Logger('RemoteManifest');
  /** Since when each RemoteManifest waits for its clusters to report a generation. */
  private readonly progressing = new Map<string, { generation: number; since: number }>();

  constructor(@Inject(SETTINGS) private readonly settings: Settings) {}

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return {
      concurrency: this.settings.remoteManifestConcurrency,
      watches: [remoteClusterWatch(this.settings.remoteClusterSelector)],
    };
  }

  async reconcile(request: ReconcileRequest, ctx: ReconcileContext<RemoteManifest>): Promise<ReconcileResult> {
    const key = `${request.namespace}/${request.name}`;
    const rm = ctx.cache.get(request.namespace, request.name);
    if (!rm || rm.metadata?.deletionTimestamp) {
      this.progressing.delete(key);
      return;
    }
    const { targets, emptySelector } = selectTargets(rm, ctx.cacheOf(API_VERSION, KIND)!);
    return sumUp(
      rm,
      {
        targets,
        emptySelector,
        // Cleanup of clusters no longer selected is each owner's; it is not summed up here.
        releasing: [],
        progressingSince: (generation) => {
          const current = this.progressing.get(key);
          if (current?.generation === generation) return current.since;
          const since = Date.now();
          this.progressing.set(key, { generation, since });
          return since;
        },
      },
      ctx.client,
      this.logger,
    );
  }
}
