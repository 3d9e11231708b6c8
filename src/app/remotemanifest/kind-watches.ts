import { Informer, type ClusterClient, type InformerEvent, type KubeObject } from '../../index.js';
import { UNKNOWN } from './manifest-hub.js';
import { MANIFEST_LABEL, type ObjectId } from './markers.js';

/**
 * Watches of one cluster for the kinds RemoteManifests applied there, each selecting only objects
 * that carry the manifest label: nothing else in the cluster is listed or cached. Kinds are
 * known only at run time, hence informers of our own rather than @Reconciler watches; they end
 * with the cluster's context.
 */
export class KindWatches {
  private readonly informers = new Map<string, Informer>();

  constructor(
    private readonly client: ClusterClient,
    private readonly signal: AbortSignal,
    private readonly onEvent: (event: InformerEvent) => void,
    private readonly onState: (apiVersion: string, kind: string) => void,
  ) {}

  /** The watch of a kind, started on first use. */
  ensure(apiVersion: string, kind: string): Informer {
    const key = `${apiVersion}|${kind}`;
    let informer = this.informers.get(key);
    if (!informer) {
      informer = new Informer(this.client, { apiVersion, kind, labelSelector: MANIFEST_LABEL });
      informer.on(this.onEvent);
      informer.onState(() => this.onState(apiVersion, kind));
      this.informers.set(key, informer);
      void informer.start(this.signal);
    }
    return informer;
  }

  cached(id: ObjectId): KubeObject | undefined | typeof UNKNOWN {
    const informer = this.informers.get(`${id.apiVersion}|${id.kind}`);
    if (!informer?.state().synced) return UNKNOWN;
    return informer.store.getByName(id.namespace, id.name);
  }

  /** Why the watch of a kind fails, if it does. */
  failure(apiVersion: string, kind: string): string | undefined {
    return this.informers.get(`${apiVersion}|${kind}`)?.state().error?.message;
  }
}
