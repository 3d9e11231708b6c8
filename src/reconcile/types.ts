import type { ClusterClient } from '../client/cluster-client.js';
import type { InformerEvent, KubeObject, WatchSpec } from '../cache/types.js';
import type { EventRecorder } from '../events/types.js';

/** Names an object, not an event: reconcilers are level-triggered. */
export interface ReconcileRequest {
  cluster: string;
  namespace?: string;
  name: string;
}

/** Return nothing when done; ask to come back after a delay, or right away with backoff. */
export type ReconcileResult = void | undefined | { requeueAfterMs?: number; requeue?: boolean };

/** Read access to the controller's cache of the watched kind (objects are shared: do not mutate). */
export interface CacheReader<T extends KubeObject = KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
}

/** The object a request names, without its cluster. */
export type ObjectRef = Omit<ReconcileRequest, 'cluster'>;

/** Another kind whose changes trigger reconciles of the primary kind (controller-runtime's Watches). */
export interface SecondaryWatch extends WatchSpec {
  /** The primary objects to reconcile when `object` changes; `primary` is the primary kind's cache. */
  map(object: KubeObject, primary: CacheReader): ObjectRef[];
}

/**
 * Requests that come from outside the watched kinds (controller-runtime's source.Channel): the
 * controller subscribes once its caches are synced, passing `enqueue`, and calls the returned
 * function when it stops. The RemoteCluster controller hears of runtime state changes this way.
 */
export type EventSource = (enqueue: (ref: ObjectRef) => void) => () => void;

/** One attempt's context. `signal` and `client` are made when first read (most reconciles of a
 * warm cache never read them): read or destructure them; a spread copy (`{ ...ctx }`) lacks them. */
export interface ReconcileContext<T extends KubeObject = KubeObject> {
  /** Aborted on timeout, on cluster stop and on shutdown. `client` already honours it. */
  signal: AbortSignal;
  /** The client of the cluster being watched (remote, or manage for manage reconcilers); every
   * request through it, typed APIs included, ends when `signal` aborts. */
  client: ClusterClient;
  /** The watched kind's cache in that cluster. */
  cache: CacheReader<T>;
  /** Failures of this key so far (0 on a first attempt). */
  attempt: number;
  /** The cache of a kind named in `watches` (undefined for kinds this controller does not watch). */
  cacheOf(apiVersion: string, kind: string): CacheReader | undefined;
  /** Records Kubernetes Events about objects of this cluster, in this cluster, reporting as this
   * reconciler (controller-runtime's GetEventRecorderFor): aggregated, rate limited, never blocking. */
  recorder: EventRecorder;
}

export interface Reconcile<T extends KubeObject = KubeObject> {
  reconcile(request: ReconcileRequest, context: ReconcileContext<T>): Promise<ReconcileResult> | ReconcileResult;
  /** Options known only at run time (from injected settings), merged over the decorator's. */
  reconcilerOptions?(): Partial<ReconcilerOptions>;
}

/**
 * What a reconciler watches and how it runs. `apiVersion` and `kind` name its primary kind, whose
 * objects are its keys; omit both for a reconciler whose keys come only from `sources` and
 * `watches` (controller-runtime's controllers built on channel sources): its `ctx.cache` is empty
 * and its keys may name objects that live elsewhere (in the manage cluster, say).
 */
export interface ReconcilerOptions extends Omit<WatchSpec, 'apiVersion' | 'kind'> {
  apiVersion?: string;
  kind?: string;
  /** Controller name in logs and metrics (default: the class name). Unique per cluster. */
  name?: string;
  /** Reconciles running at once for this controller in one cluster (default 1). */
  concurrency?: number;
  /** A reconcile running longer is aborted and retried with backoff (default 60 s). */
  timeoutMs?: number;
  /** Per-key retry backoff after failures (default 10 ms doubling to 5 min). */
  backoff?: { baseMs: number; maxMs: number };
  /** Requeue every cached object this often, as a safety net for missed side effects. */
  resyncMs?: number;
  /** Filters events of the primary kind before they become requests, e.g. only generation changes. */
  predicate?: (event: InformerEvent) => boolean;
  /** Other kinds to watch, each mapped to the primary objects it concerns. */
  watches?: SecondaryWatch[];
  /** Requests from outside the watched kinds. */
  sources?: EventSource[];
  /** Manage reconcilers with sharding only: run on one replica of the fleet (under the leader
   * Lease) instead of on every replica. Without sharding, every manage reconciler already runs on
   * one replica at a time; remote reconcilers run where their cluster runs, and ignore it. */
  singleton?: boolean;
}
