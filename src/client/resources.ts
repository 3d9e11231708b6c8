import { KindNotServedError, KubeApiError } from './errors.js';

/** What a served resource's name may be: Kubernetes' plurals are DNS-1035 labels. */
const RESOURCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** How a kind is served: its plural resource name and whether it lives in namespaces
 * (undefined while only guessed). */
export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced?: boolean;
  /** Derived from the kind's name, not from discovery: a 404 on it means "ask discovery". */
  guessed?: boolean;
}

interface ApiResourceList {
  resources?: { name?: string; kind?: string; namespaced?: boolean }[];
}

interface ApiGroup {
  versions?: { groupVersion?: unknown }[];
  preferredVersion?: { groupVersion?: unknown };
}

/** How many other versions of a group resolveInGroup asks about, at most. */
const MAX_VERSIONS = 8;

/** A group version as discovery may name it: a DNS subdomain group and a DNS label version. */
const GROUP_VERSION = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** An apiVersion a request path may be built from: a core version, or a group version. */
const API_VERSION = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** An apiVersion goes into discovery paths: a manifest's `../..` must not reach another endpoint. */
function checkApiVersion(apiVersion: string): void {
  if (!API_VERSION.test(apiVersion)) {
    throw new KindNotServedError(`${JSON.stringify(apiVersion.slice(0, 100))} is not an apiVersion`);
  }
}

interface Requester {
  name: string;
  request<T>(method: string, path: string): Promise<T>;
}

/** Kinds whose plural the rule below gets wrong. */
const IRREGULAR: Record<string, string> = { Endpoints: 'endpoints' };

/**
 * The plural resource of a kind by kubectl's rule (UnsafeGuessKindToResource), with "ay/ey/oy"
 * kept regular. Right for every built-in kind but the irregular ones listed, and for CRDs that
 * follow the convention. Guessing saves a discovery round trip before the first list of every
 * runtime; a wrong guess costs one 404 and then discovery.
 */
export function guessResource(apiVersion: string, kind: string): ResourceInfo {
  const lower = kind.toLowerCase();
  let plural = IRREGULAR[kind];
  if (!plural) {
    if (lower.endsWith('s')) plural = `${lower}es`;
    else if (/[^aeiou]y$/.test(lower)) plural = `${lower.slice(0, -1)}ies`;
    else plural = `${lower}s`;
  }
  return { apiVersion, kind, plural, guessed: true };
}

/** Collection path of a resource: /api/v1/pods, /apis/apps/v1/namespaces/x/deployments… A guessed
 * resource with a namespace is taken as namespaced (a cluster-scoped one then 404s). */
export function collectionPath(resource: ResourceInfo, namespace?: string): string {
  const prefix = resource.apiVersion.includes('/') ? `/apis/${resource.apiVersion}` : `/api/${resource.apiVersion}`;
  const ns = resource.namespaced !== false && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix}${ns}/${resource.plural}`;
}

/** Discovery of apiVersion/kind to resource, per cluster. Only answers are cached: a kind that
 * is missing now (a CRD not installed yet) is looked up again on the next call. */
export class ResourceResolver {
  private readonly groups = new Map<string, Promise<ApiResourceList>>();

  constructor(private readonly client: Requester) {}

  async resolve(apiVersion: string, kind: string): Promise<ResourceInfo> {
    checkApiVersion(apiVersion);
    let list = this.groups.get(apiVersion);
    if (!list) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      list = this.client.request<ApiResourceList>('GET', path);
      this.groups.set(apiVersion, list);
      list.catch(() => this.groups.delete(apiVersion));
    }
    let resources: ApiResourceList;
    try {
      resources = await list;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        throw new KindNotServedError(
          `cluster ${this.client.name} does not serve ${apiVersion} (no such API group/version)`,
        );
      }
      throw err;
    }
    // A hostile server may send anything: only well-formed entries count. The name goes into
    // every request path, error and condition of this kind: a resource name, nothing a URL, a log
    // line or a status could be bent with.
    const match = (Array.isArray(resources?.resources) ? resources.resources : []).find(
      (r) => r?.kind === kind && typeof r.name === 'string' && RESOURCE_NAME.test(r.name),
    );
    if (!match?.name) {
      this.groups.delete(apiVersion);
      throw new KindNotServedError(`cluster ${this.client.name} serves ${apiVersion} but not kind ${kind}`);
    }
    return { apiVersion, kind, plural: match.name, namespaced: match.namespaced === true };
  }

  /** Forgets what discovery said of `apiVersion`: the next resolve asks again. */
  forget(apiVersion: string): void {
    this.groups.delete(apiVersion);
  }

  /**
   * How the cluster serves `kind` of `apiVersion`'s group at some version, `apiVersion` first,
   * then the group's preferred version and the others (a CRD may stop serving the version an
   * object was written as; the object is still there, as another). KindNotServed when none does.
   */
  async resolveInGroup(apiVersion: string, kind: string): Promise<ResourceInfo> {
    checkApiVersion(apiVersion);
    try {
      return await this.resolve(apiVersion, kind);
    } catch (err) {
      if (!(err instanceof KindNotServedError) || !apiVersion.includes('/')) throw err;
    }
    const group = apiVersion.split('/')[0]!;
    let found: ApiGroup;
    try {
      found = await this.client.request<ApiGroup>('GET', `/apis/${group}`);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        throw new KindNotServedError(`cluster ${this.client.name} does not serve group ${group}`);
      }
      throw err;
    }
    // Only well-formed versions of this group: the server's answer goes into request paths.
    const named = [found?.preferredVersion, ...(Array.isArray(found?.versions) ? found.versions : [])]
      .map((v) => v?.groupVersion)
      .filter((gv): gv is string => typeof gv === 'string' && GROUP_VERSION.test(gv) && gv.startsWith(`${group}/`));
    for (const other of [...new Set(named)].slice(0, MAX_VERSIONS)) {
      if (other === apiVersion) continue;
      try {
        return await this.resolve(other, kind);
      } catch (err) {
        if (!(err instanceof KindNotServedError)) throw err;
      }
    }
    throw new KindNotServedError(`cluster ${this.client.name} serves kind ${kind} in no version of group ${group}`);
  }
}
