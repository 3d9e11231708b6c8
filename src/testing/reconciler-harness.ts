import { ObjectStore } from '../cache/store.js';
import type { KubeObject } from '../cache/types.js';
import type { ClusterClient } from '../client/cluster-client.js';
import type { CacheReader, ObjectRef, Reconcile, ReconcileContext, ReconcileResult } from '../reconcile/types.js';
import { deadline } from '../util/abort.js';
import { FakeTransport } from './fake-transport.js';
import { RecordingEventRecorder, type RecordedEvent } from './recording-recorder.js';

export interface ReconcilerHarnessOptions<T extends KubeObject> {
  /** The cluster's name in requests (default "test"). */
  cluster?: string;
  /** The watched kind's objects: the reconciler's ctx.cache. */
  objects?: T[];
  /** Objects of other kinds, for ctx.cacheOf(apiVersion, kind). */
  related?: KubeObject[];
  /** The cluster's client (ctx.client): scripted answers, every request recorded. Default: a
   * FakeTransport that answers 404 to anything not routed. */
  transport?: FakeTransport;
  /** ctx.signal aborts after this long (default 60 s, as the engine's default). */
  timeoutMs?: number;
  /** ctx.recorder reports as this controller (default "test"). */
  controller?: string;
}

const readerOf = <T extends KubeObject>(store: ObjectStore<T>): CacheReader<T> => ({
  get: (namespace, name) => store.getByName(namespace, name),
  list: (namespace) => store.list(namespace),
});

/**
 * Unit-tests a reconciler's reconcile() without a cluster: an in-memory cache instead of an
 * informer, a recording client instead of an apiserver. Build the reconciler yourself, with
 * whatever you inject (another FakeTransport's client() for MANAGE_CLIENT, say):
 *
 *   const manage = new FakeTransport().on('PATCH', /configmaps/, json(200, {}));
 *   const h = new ReconcilerHarness(new PodMirror('remote-1', manage.client('manage')), { objects: [pod] });
 *   expect(await h.reconcile({ namespace: 'default', name: 'web' })).toBeUndefined();
 *   expect(manage.sent()).toEqual(['PATCH /api/v1/namespaces/mirror/configmaps/remote-1-web?…']);
 */
export class ReconcilerHarness<T extends KubeObject = KubeObject> {
  readonly cluster: string;
  readonly transport: FakeTransport;
  readonly client: ClusterClient;
  /** The primary cache: set() and delete() objects between reconciles. */
  readonly cache = new ObjectStore<T>();
  private readonly related = new Map<string, ObjectStore>();
  private readonly attempts = new Map<string, number>();
  /** Every event the reconciler recorded through ctx.recorder, in order. */
  readonly events: RecordedEvent[] = [];
  private readonly recorder: RecordingEventRecorder;

  constructor(
    private readonly reconciler: Reconcile<T>,
    private readonly options: ReconcilerHarnessOptions<T> = {},
  ) {
    this.cluster = options.cluster ?? 'test';
    this.transport = options.transport ?? new FakeTransport();
    this.client = this.transport.client(this.cluster);
    this.recorder = new RecordingEventRecorder(this.events, options.controller ?? 'test');
    for (const obj of options.objects ?? []) this.cache.set(obj);
    for (const obj of options.related ?? []) this.relatedStore(obj.apiVersion ?? '', obj.kind ?? '').set(obj);
  }

  /** Objects of another kind, for ctx.cacheOf. */
  relatedStore(apiVersion: string, kind: string): ObjectStore {
    const key = `${apiVersion}/${kind}`;
    let store = this.related.get(key);
    if (!store) this.related.set(key, (store = new ObjectStore()));
    return store;
  }

  /** One reconcile of `ref`, as the engine calls it; ctx.attempt counts the failures of that
   * object so far (a thrown error counts one, as the engine's backoff does). */
  async reconcile(ref: ObjectRef): Promise<ReconcileResult> {
    const key = `${ref.namespace ?? ''}/${ref.name}`;
    const time = deadline(this.options.timeoutMs ?? 60_000);
    const context: ReconcileContext<T> = {
      signal: time.signal,
      client: this.client.withSignal(time.signal),
      cache: readerOf(this.cache),
      attempt: this.attempts.get(key) ?? 0,
      cacheOf: (apiVersion, kind) => {
        const store = this.related.get(`${apiVersion}/${kind}`);
        return store ? readerOf(store) : undefined;
      },
      recorder: this.recorder,
    };
    try {
      const result = await this.reconciler.reconcile({ cluster: this.cluster, ...ref }, context);
      this.attempts.delete(key);
      return result;
    } catch (err) {
      this.attempts.set(key, (this.attempts.get(key) ?? 0) + 1);
      throw err;
    } finally {
      time.clear();
    }
  }
}
