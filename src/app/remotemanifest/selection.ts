import {
  API_VERSION,
  KIND,
  type CacheReader,
  type RemoteCluster,
  type RemoteClusterRegistry,
  type SecondaryWatch,
} from '../../index.js';
import type { RemoteManifest } from './api.js';
import { describeSelector, selects } from './label-selector.js';
import type { Target } from './summary.js';

/**
 * The clusters a RemoteManifest selects, each Ready (its RemoteCluster says Ready=True and, with a
 * registry, its runtime runs here) or why not. A RemoteCluster being deleted is as good as gone.
 * Without a registry (the summary writer of a sharded fleet, whose clusters run on other
 * replicas) Ready=True is enough.
 */
export function selectTargets(
  rm: RemoteManifest,
  clusters: CacheReader,
  registry?: Pick<RemoteClusterRegistry, 'has'>,
): { targets: Target[]; emptySelector?: string } {
  const state = (rc: RemoteCluster): Target => {
    const name = rc.metadata!.name!;
    const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True' && (!registry || registry.has(name))) return { cluster: name, state: 'Ready' };
    const message = ready ? `Ready=${ready.status}, ${ready.reason}: ${ready.message}` : 'no Ready condition yet';
    return { cluster: name, state: 'NotReady', message };
  };
  const live = (rc: RemoteCluster | undefined): rc is RemoteCluster => !!rc && !rc.metadata?.deletionTimestamp;

  if (rm.spec?.cluster) {
    const rc = clusters.get(undefined, rm.spec.cluster) as RemoteCluster | undefined;
    const target: Target = live(rc)
      ? state(rc)
      : { cluster: rm.spec.cluster, state: 'NotFound', message: 'no such RemoteCluster' };
    return { targets: [target] };
  }
  const selector = rm.spec?.clusterSelector ?? {};
  const targets = (clusters.list() as RemoteCluster[])
    .filter((rc) => live(rc) && selects(selector, rc.metadata?.labels))
    .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1))
    .map(state);
  return targets.length ? { targets } : { targets, emptySelector: describeSelector(selector) };
}

/** Whether a RemoteCluster's change may concern a RemoteManifest: it names it, selects it, or
 * has applied to it. */
export function concerns(rm: RemoteManifest, cluster: string, labels: Record<string, string> | undefined): boolean {
  if (rm.spec?.cluster !== undefined) return rm.spec.cluster === cluster || appliedTo(rm, cluster);
  return selects(rm.spec?.clusterSelector ?? {}, labels) || appliedTo(rm, cluster);
}

function appliedTo(rm: RemoteManifest, cluster: string): boolean {
  return (rm.status?.clusters ?? []).some((c) => c.cluster === cluster);
}

/** The RemoteClusters as a secondary watch: a Ready change (or labels, for selectors) brings back
 * the RemoteManifests it concerns. */
export function remoteClusterWatch(labelSelector: string | undefined): SecondaryWatch {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    labelSelector,
    map: (rc, primary) =>
      (primary.list() as RemoteManifest[])
        .filter((rm) => concerns(rm, rc.metadata?.name ?? '', rc.metadata?.labels))
        .map((rm) => ({ namespace: rm.metadata!.namespace, name: rm.metadata!.name! })),
  };
}
