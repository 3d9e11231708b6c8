import { boundedName, type KubeObject } from '../../index.js';

/** On every applied object: which RemoteManifest applied it, as a label value (63 characters at
 * most: `<namespace>.<name>`, hashed when longer). The remote watches select on it. */
export const MANIFEST_LABEL = 'clusterregistry.dev/manifest';
/** The full reference, `<namespace>/<name>`, which the label may be too short for. */
export const MANIFEST_ANNOTATION = 'clusterregistry.dev/remotemanifest';
/** Every field manager of this feature starts with this. */
const MANAGER_PREFIX = 'clusterregistry.dev/';

/** Namespaces of the manage cluster never hold a dot, so `<namespace>.<name>` is unambiguous. */
export function labelValue(namespace: string, name: string): string {
  return boundedName(`${namespace}.${name}`, 63);
}

/**
 * The field manager that applies one RemoteManifest's objects. One per RemoteManifest, so the
 * apiserver itself reports a second RemoteManifest that tries to change the first one's fields
 * (the label above, at least) as a conflict instead of letting the two take turns.
 */
export function applyManager(namespace: string, name: string): string {
  return `${MANAGER_PREFIX}${labelValue(namespace, name)}`;
}

/** The field manager of a cluster's entry in RemoteManifest status (fieldManager: 128 at most). */
export function clusterStatusManager(cluster: string): string {
  return boundedName(`${MANAGER_PREFIX}cluster.${cluster}`, 128);
}

/** The field manager of the summary (conditions, counts) in RemoteManifest status. */
export const SUMMARY_MANAGER = `${MANAGER_PREFIX}remotemanifest`;

/** Which object of which cluster: kinds by group, so a new apiVersion names the same object. */
export interface ObjectId {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export function idOf(obj: KubeObject): ObjectId {
  return {
    apiVersion: obj.apiVersion ?? '',
    kind: obj.kind ?? '',
    namespace: obj.metadata?.namespace || undefined,
    name: obj.metadata?.name ?? '',
  };
}

export function idKey(id: ObjectId): string {
  const group = id.apiVersion.includes('/') ? id.apiVersion.split('/')[0] : '';
  return `${group}/${id.kind}/${id.namespace ?? ''}/${id.name}`;
}

/** idKey with the namespace defaulted, as the apply defaults it for a namespaced kind: a
 * cluster-scoped object is `default` on both sides of a comparison, so it still matches. */
export function sameKey(id: ObjectId): string {
  return idKey({ ...id, namespace: id.namespace || 'default' });
}

/** An object's group, kind and name: what a manifest names whatever its namespace. */
export function nameKey(id: ObjectId): string {
  return idKey({ ...id, namespace: '' });
}

export function describeId(id: ObjectId): string {
  return `${id.kind} ${id.namespace ? `${id.namespace}/` : ''}${id.name}`;
}

/** Whose object a live object is, as far as RemoteManifests go. */
export type Ownership =
  | { owner: 'self' }
  | { owner: 'other'; by: string }
  /** No RemoteManifest applied it: never touched. */
  | { owner: 'none' };

/**
 * The label (with the annotation) says who applied an object. Without the label, a field manager
 * of this RemoteManifest still proves it applied the object (someone stripped the label: that is
 * drift to correct); a manager of another one means it is theirs. Cached objects carry
 * managedFields too unless a transform drops them, and always carry the label.
 */
export function ownership(live: KubeObject, namespace: string, name: string): Ownership {
  const label = live.metadata?.labels?.[MANIFEST_LABEL];
  const ref = live.metadata?.annotations?.[MANIFEST_ANNOTATION];
  if (label !== undefined) {
    if (label === labelValue(namespace, name) && (ref === undefined || ref === `${namespace}/${name}`)) {
      return { owner: 'self' };
    }
    return { owner: 'other', by: ref ?? label };
  }
  const managers = (live.metadata?.managedFields ?? []).map((f) => (f as { manager?: string }).manager ?? '');
  if (managers.includes(applyManager(namespace, name))) return { owner: 'self' };
  const theirs = managers.find((m) => m.startsWith(MANAGER_PREFIX) && !m.startsWith(`${MANAGER_PREFIX}cluster.`));
  return theirs ? { owner: 'other', by: `field manager ${theirs}` } : { owner: 'none' };
}

/**
 * Whether this RemoteManifest's own server-side apply wrote the object: its field manager, with
 * operation Apply, in managedFields. What deleting takes: the label and annotation that make an
 * object "self" for an apply can be set by anyone who may patch it, and would otherwise let them
 * have the controller delete, with the kubeconfig's rights, an object they may not delete.
 */
export function appliedBy(live: KubeObject, namespace: string, name: string): boolean {
  const manager = applyManager(namespace, name);
  return (live.metadata?.managedFields ?? []).some((f) => {
    const field = f as { manager?: string; operation?: string };
    return field.manager === manager && field.operation === 'Apply';
  });
}

/** Fields the server sets: a manifest pasted from `kubectl get -o yaml` must not send them (a
 * resourceVersion would even act as a precondition). */
const SERVER_FIELDS = [
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

/** The object as applied: the manifest without status and server fields, in `namespace` (none
 * for cluster-scoped kinds), with the markers pointing back to the RemoteManifest. */
export function desiredObject(
  manifest: KubeObject,
  rm: { namespace: string; name: string },
  namespace: string | undefined,
): KubeObject {
  const { status: _status, metadata = {}, ...rest } = manifest;
  const meta: Record<string, unknown> = { ...metadata };
  for (const field of SERVER_FIELDS) delete meta[field];
  if (namespace) meta.namespace = namespace;
  else delete meta.namespace;
  meta.labels = { ...(metadata.labels ?? {}), [MANIFEST_LABEL]: labelValue(rm.namespace, rm.name) };
  meta.annotations = { ...(metadata.annotations ?? {}), [MANIFEST_ANNOTATION]: `${rm.namespace}/${rm.name}` };
  return { ...rest, metadata: meta };
}
