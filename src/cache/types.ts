/** The part of a Kubernetes object the engine relies on. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    deletionTimestamp?: string | Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    managedFields?: unknown[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** What to watch: a kind, optionally narrowed to a namespace and by selectors. The one shape
 * shared by informers, reconciler options and secondary watches. */
export interface WatchSpec {
  apiVersion: string;
  kind: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** Two specs with the same key are served by one informer. */
export function watchSpecKey(spec: WatchSpec): string {
  return [spec.apiVersion, spec.kind, spec.namespace ?? '', spec.labelSelector ?? '', spec.fieldSelector ?? ''].join(
    '|',
  );
}

/** Just the fields of a WatchSpec (reconciler options carry many more). */
export function pickWatchSpec({ apiVersion, kind, namespace, labelSelector, fieldSelector }: WatchSpec): WatchSpec {
  return { apiVersion, kind, namespace, labelSelector, fieldSelector };
}

/** What a watch or relist tells its handlers. Deletes carry the last known object. */
export type InformerEvent<T extends KubeObject = KubeObject> =
  { type: 'add'; object: T } | { type: 'update'; object: T; old: T } | { type: 'delete'; object: T };

/** namespace/name, or name for cluster-scoped objects: the key of the cache and the queue. */
export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function objectKey(obj: KubeObject): string {
  return keyOf(obj.metadata?.namespace, obj.metadata?.name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
