import { API_VERSION, type Condition, type KubeObject } from '../../index.js';

/** The RemoteManifest API (namespaced, clusterregistry.dev/v1alpha1; CRD in deploy/crd.yaml). */
export const RM_API_VERSION = API_VERSION;
export const RM_KIND = 'RemoteManifest';
export const RM_PLURAL = 'remotemanifests';
/** Ours only: added before anything is applied, removed (alone) once what was applied is gone. */
export const RM_FINALIZER = 'clusterregistry.dev/remotemanifest';

export type DeletionPolicy = 'Delete' | 'Orphan';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** A value to copy back from each applied object (of `kind`, when given) into its status. */
export interface FeedbackRule {
  name: string;
  /** A JSONPath subset: `.status.readyReplicas`, `.spec.ports[0].port`,
   * `.status.conditions[?(@.type=="Ready")].status`. Only scalar values are copied. */
  jsonPath: string;
  kind?: string;
}

export interface RemoteManifestSpec {
  /** A RemoteCluster by name; or clusterSelector (exactly one of the two). */
  cluster?: string;
  clusterSelector?: LabelSelector;
  manifests?: KubeObject[];
  /** What happens to applied objects when they leave the RemoteManifest (default Delete). */
  deletionPolicy?: DeletionPolicy;
  statusFeedback?: FeedbackRule[];
}

/** A condition an applied object reports in its own status, as mirrored. */
export interface ObjectCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** One object in one cluster: the outcome of its apply, and its state as the cluster shows it. */
export interface ObjectStatus {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** The last apply went through. */
  applied: boolean;
  /** Applied, or why not: the apiserver's Status reason (Invalid, Forbidden…), KindNotServed,
   * Conflict (another RemoteManifest applied it), AlreadyExists (nobody did: never taken over). */
  reason: string;
  message?: string;
  /** Set when the last apply failed: whether the object in the cluster is, or may be, this
   * RemoteManifest's: found ours when the apply was refused, a create whose answer never came, or
   * applied before a failure that learnt nothing of it. Such an object is removed with it, once
   * its removal finds it ours; with false (another's, nobody's, or no apply known to have written
   * it), nothing is. */
  owned?: boolean;
  generation?: number;
  observedGeneration?: number;
  conditions?: ObjectCondition[];
  feedback?: Record<string, string>;
}

/** The reason of a removal under way, as opposed to one that failed. */
export const REMOVING = 'Removing';

/** An object applied before and no longer listed, while it is not removed (or orphaned) yet. */
export interface RemovalStatus {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** `Removing` while the removal is under way; otherwise why it failed (Forbidden, Unreachable…). */
  reason: string;
  message?: string;
}

/** What one cluster reports; written by that cluster's own field manager only. */
export interface ClusterManifestStatus {
  cluster: string;
  /** The RemoteManifest generation whose apply this reports. */
  observedGeneration: number;
  objects: ObjectStatus[];
  /** Objects to remove: the record that removal works from, after a restart too. An entry goes
   * once its object is gone (or orphaned), or turns out not to be ours. */
  removals?: RemovalStatus[];
  /** Deletion with sharding: the cluster's owner removed (or orphaned) what was applied there. */
  cleanedUp?: boolean;
}

export interface RemoteManifestStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  summary?: { clusters: number; objects: number; applied: number; available: number };
  clusters?: ClusterManifestStatus[];
}

export interface RemoteManifest extends KubeObject {
  spec: RemoteManifestSpec;
  status?: RemoteManifestStatus;
}

/** namespace/name: the key of a RemoteManifest in queues, the hub and annotations. */
export function manifestKey(rm: { metadata?: { namespace?: string; name?: string } }): string {
  return `${rm.metadata?.namespace ?? ''}/${rm.metadata?.name ?? ''}`;
}

export function splitManifestKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function rmPath(namespace: string, name: string): string {
  return `/apis/${RM_API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${RM_PLURAL}/${encodeURIComponent(name)}`;
}
