import { KindNotServedError, KubeApiError } from './errors.js';

/** How a kind is served: its plural resource name and whether it lives in namespaces. */
export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

interface Requester {
  name: string;
  request<T>(method: string, path: string): Promise<T>;
}

/** Collection path of a resource: /api/v1/pods, /apis/apps/v1/namespaces/x/deployments… */
export function collectionPath(resource: ResourceInfo, namespace?: string): string {
  const prefix = resource.apiVersion.includes('/') ? `/apis/${resource.apiVersion}` : `/api/${resource.apiVersion}`;
  const ns = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix}${ns}/${resource.plural}`;
}

/** Discovery of apiVersion/kind to resource, per cluster. Only answers are cached: a kind that
 * is missing now (a CRD not installed yet) is looked up again on the next call. */
export class ResourceResolver {
  private readonly groups = new Map<string, Promise<ApiResourceList>>();

  constructor(private readonly client: Requester) {}

  async resolve(apiVersion: string, kind: string): Promise<ResourceInfo> {
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
    const match = resources.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!match) {
      this.groups.delete(apiVersion);
      throw new KindNotServedError(`cluster ${this.client.name} serves ${apiVersion} but not kind ${kind}`);
    }
    return { apiVersion, kind, plural: match.name, namespaced: match.namespaced };
  }
}
