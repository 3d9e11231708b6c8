import { describeFailure, failureReason, KubeApiError, type ClusterClient, type KubeObject } from '../../index.js';
import type { DeletionPolicy } from './api.js';
import { UNKNOWN, type ApplyResult, type ClusterSide } from './manifest-hub.js';
import {
  applyManager,
  appliedBy,
  desiredObject,
  idOf,
  labelValue,
  MANIFEST_ANNOTATION,
  MANIFEST_LABEL,
  ownership,
  type ObjectId,
  type Ownership,
} from './markers.js';

/** Every request to a remote cluster ends by then: an unreachable cluster fails, not hangs. */
export const REMOTE_REQUEST_TIMEOUT_MS = 15_000;

/** How a kind is served, as the cluster's discovery tells (ClusterClient.resources). */
type Resource = Awaited<ReturnType<ClusterClient['resources']['resolve']>>;

function objectPath(resource: Resource, namespace: string | undefined, name: string): string {
  const prefix = resource.apiVersion.includes('/') ? `/apis/${resource.apiVersion}` : `/api/${resource.apiVersion}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix}${ns}/${resource.plural}/${encodeURIComponent(name)}`;
}

/** A JSON pointer segment (RFC 6901): label keys hold slashes. */
const pointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

const is = (err: unknown, status: number): boolean => err instanceof KubeApiError && err.status === status;

/** The apiserver's Status reason ("Invalid", "Forbidden"…) when it gave one, else ours. */
function reasonOf(err: unknown): string {
  if (err instanceof KubeApiError && err.statusReason) return err.statusReason;
  return failureReason(err);
}

export type Released = 'removed' | 'absent' | 'not-ours';

/**
 * One RemoteManifest's objects in one cluster: server-side apply under the RemoteManifest's own
 * field manager, and removal (delete or orphan) of what it applied. It never changes an object
 * that another RemoteManifest applied, nor one that none applied.
 */
export class ClusterObjects {
  private readonly manager: string;

  constructor(
    /** The cluster's client, scoped to the reconcile's signal. */
    private readonly client: ClusterClient,
    /** The cluster's watches of applied objects, when its remote side is running. */
    private readonly side: ClusterSide | undefined,
    private readonly rm: { namespace: string; name: string },
    private readonly timeoutMs = REMOTE_REQUEST_TIMEOUT_MS,
  ) {
    this.manager = applyManager(rm.namespace, rm.name);
  }

  /** Where a manifest lands: namespaced kinds default to "default", cluster-scoped ones have none. */
  async locate(manifest: KubeObject): Promise<{ id: ObjectId; resource: Resource }> {
    const resource = await this.client.resources.resolve(manifest.apiVersion!, manifest.kind!);
    const namespace = resource.namespaced ? manifest.metadata?.namespace || 'default' : undefined;
    return { id: { ...idOf(manifest), namespace }, resource };
  }

  /**
   * Applies one manifest; every failure is its result, never an exception. A failure says whether
   * the object there is ours (`owned`) when this apply learnt it: true when it found the object
   * ours, or sent a create that may have landed (no answer, a server error); false when it found
   * another's, or nobody's. Otherwise (discovery or the read failed, a create refused) `owned` is
   * unset: an earlier apply may have written the object, which the caller's record knows. A read
   * that found nothing is no proof: a version that is no longer served answers 404 too.
   */
  async apply(manifest: KubeObject): Promise<ApplyResult> {
    let id = idOf(manifest);
    let desired: KubeObject | undefined;
    let force = false;
    let sent = false;
    try {
      const located = await this.locate(manifest);
      id = located.id;
      desired = desiredObject(manifest, this.rm, id.namespace);
      const path = objectPath(located.resource, id.namespace, id.name);
      const owner = await this.ownerOf(id, path);
      if (owner.owner === 'other') {
        const message = `already applied by RemoteManifest ${owner.by}; not taken over`;
        return this.failed(id, desired, 'Conflict', message, false);
      }
      if (owner.owner === 'none') {
        const message =
          `exists and no RemoteManifest applied it, so it is left alone ` +
          `(label it ${MANIFEST_LABEL}=${labelValue(this.rm.namespace, this.rm.name)} to hand it over)`;
        return this.failed(id, desired, 'AlreadyExists', message, false);
      }
      // Our own object: force takes back fields someone edited (drift). A new one: no force, so
      // a RemoteManifest that created it meanwhile makes this a conflict, not a takeover.
      force = owner.owner === 'self';
      sent = true;
      const applied = await this.client.request<KubeObject>('PATCH', path, {
        query: { fieldManager: this.manager, force },
        body: desired,
        contentType: 'application/apply-patch+yaml',
        timeoutMs: this.timeoutMs,
      });
      return {
        id,
        desired,
        applied: true,
        reason: 'Applied',
        uid: applied?.metadata?.uid,
        generation: applied?.metadata?.generation,
      };
    } catch (err) {
      if (is(err, 409) && !force) return this.failed(id, desired, 'Conflict', describeFailure(err), false);
      // Refused (a webhook's denial, a patch right taken away), but the object there is ours; or
      // a create that got no answer, or a server error, which may have made it.
      const refused = err instanceof KubeApiError && err.status >= 400 && err.status < 500;
      const mayHaveLanded = sent && !refused;
      return this.failed(id, desired, reasonOf(err), describeFailure(err), force || mayHaveLanded || undefined);
    }
  }

  /**
   * Removes what this RemoteManifest applied: deletes it, or with Orphan leaves it without our
   * markers and our field manager (no RemoteManifest owns it any more). An object that is not
   * ours is not touched. Request failures throw (the cluster could not be cleaned).
   */
  async release(id: ObjectId, policy: DeletionPolicy): Promise<Released> {
    const resource = await this.servedAs(id);
    if (!resource) return 'absent'; // the kind went away, and its objects
    const outcome = await this.releaseAs(resource, id, policy);
    if (outcome !== 'absent') return outcome;
    // Discovery is cached, and a version no longer served answers 404 for every object: asked
    // afresh once, the object may be there as another version of its group.
    this.client.resources.forget(id.apiVersion);
    const now = await this.servedAs(id);
    if (!now || now.apiVersion === resource.apiVersion) return 'absent';
    return this.releaseAs(now, id, policy);
  }

  private async releaseAs(resource: Resource, id: ObjectId, policy: DeletionPolicy): Promise<Released> {
    const path = this.pathOf(resource, id);
    // Deleting needs the uid and managedFields, which a cached object has unless a transform
    // dropped them; orphaning patches managedFields with `test` ops, so it reads them fresh (a
    // cache may lag). The watch is of the recorded version only.
    const cached = policy === 'Delete' && resource.apiVersion === id.apiVersion ? this.side?.cached(id) : UNKNOWN;
    const usable = cached !== UNKNOWN && cached !== undefined && cached.metadata?.managedFields !== undefined;
    const live = usable ? cached : await this.read(path);
    if (!live) return 'absent';
    if (ownership(live, this.rm.namespace, this.rm.name).owner !== 'self') return 'not-ours';
    // A label is not enough to delete: our own apply must have written the object.
    if (policy === 'Delete' && !appliedBy(live, this.rm.namespace, this.rm.name)) return 'not-ours';
    try {
      if (policy === 'Delete') {
        await this.client.request('DELETE', path, {
          // The uid precondition: an object recreated meanwhile by someone else is not ours.
          body: {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            propagationPolicy: 'Background',
            preconditions: { uid: live.metadata?.uid },
          },
          timeoutMs: this.timeoutMs,
        });
      } else {
        await this.client.request('PATCH', path, {
          body: this.orphanPatch(live),
          contentType: 'application/json-patch+json',
          timeoutMs: this.timeoutMs,
        });
      }
      return 'removed';
    } catch (err) {
      // Gone meanwhile, or replaced (uid precondition, test op): either way not ours to touch.
      if (is(err, 404)) return 'absent';
      if (is(err, 409) || is(err, 422)) return 'not-ours';
      throw err;
    }
  }

  /** How the cluster serves the recorded object's kind: as recorded, or as another version of
   * its group (a CRD may stop serving the one it was applied as); undefined when not at all. */
  private async servedAs(id: ObjectId): Promise<Resource | undefined> {
    try {
      return await this.client.resources.resolveInGroup(id.apiVersion, id.kind);
    } catch (err) {
      if (failureReason(err) === 'KindNotServed') return undefined;
      throw err;
    }
  }

  /** A manifest's own id (one the cluster never answered for) may lack the defaulted namespace. */
  private pathOf(resource: Resource, id: ObjectId): string {
    return objectPath(resource, resource.namespaced ? id.namespace || 'default' : undefined, id.name);
  }

  private async read(path: string, fromCache = false): Promise<KubeObject | undefined> {
    try {
      // resourceVersion=0: served from the apiserver's watch cache, not etcd.
      const query = fromCache ? { resourceVersion: '0' } : undefined;
      return await this.client.request<KubeObject>('GET', path, { query, timeoutMs: this.timeoutMs });
    } catch (err) {
      if (is(err, 404)) return undefined;
      throw err;
    }
  }

  /** Who applied the object at `path`, from the watch when it knows, else from the API. */
  private async ownerOf(id: ObjectId, path: string): Promise<Ownership | { owner: 'absent' }> {
    const cached = this.side?.cached(id);
    // The watch sees only labelled objects: one it lacks may still exist, unlabelled. The read
    // may be a moment stale; an object created meanwhile by anyone else makes the apply (without
    // force) a conflict as soon as a value differs.
    if (cached !== UNKNOWN && cached !== undefined) return ownership(cached, this.rm.namespace, this.rm.name);
    const live = await this.read(path, true);
    return live ? ownership(live, this.rm.namespace, this.rm.name) : { owner: 'absent' };
  }

  /** Guarded by uid and by the values it removes: it fails (409/422) rather than touch another's. */
  private orphanPatch(live: KubeObject): object[] {
    const ops: object[] = [{ op: 'test', path: '/metadata/uid', value: live.metadata?.uid }];
    const meta = live.metadata ?? {};
    for (const [field, key] of [
      ['labels', MANIFEST_LABEL],
      ['annotations', MANIFEST_ANNOTATION],
    ] as const) {
      const value = meta[field]?.[key];
      if (value === undefined) continue;
      const at = `/metadata/${field}/${pointer(key)}`;
      ops.push({ op: 'test', path: at, value }, { op: 'remove', path: at });
    }
    // Our field manager goes too, last index first, so nothing claims the fields any more.
    const managed = (meta.managedFields ?? []) as { manager?: string }[];
    for (let i = managed.length - 1; i >= 0; i--) {
      if (managed[i]?.manager !== this.manager) continue;
      const at = `/metadata/managedFields/${i}`;
      ops.push({ op: 'test', path: `${at}/manager`, value: this.manager }, { op: 'remove', path: at });
    }
    return ops;
  }

  private failed(
    id: ObjectId,
    desired: KubeObject | undefined,
    reason: string,
    message: string,
    owned: boolean | undefined,
  ): ApplyResult {
    return { id, desired, applied: false, reason, message, ...(owned === undefined ? {} : { owned }) };
  }
}
