import { KubernetesObjectApi, type KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../../src/cache/types.js';
import type { RemoteManifest, RemoteManifestSpec } from '../../src/app/remotemanifest/api.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { KubeApiError } from '../../src/client/errors.js';
import type { Condition } from '../../src/remotecluster/types.js';
import { eventually } from './poll.js';

const API_VERSION = 'clusterregistry.dev/v1alpha1';
const KIND = 'RemoteManifest';

export function configMap(name: string, data: Record<string, string>, namespace?: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

/** manager:operation of each managedFields entry. */
export function managers(obj: KubeObject): string[] {
  return ((obj.metadata?.managedFields ?? []) as { manager?: string; operation?: string }[]).map(
    (f) => `${f.manager}:${f.operation}`,
  );
}

/** Drives RemoteManifests in the manage cluster the way a user would (kubectl-like calls). */
export class ManifestApi {
  readonly objects: KubernetesObjectApi;

  constructor(
    kc: KubeConfig,
    readonly namespace: string,
  ) {
    this.objects = kc.makeApiClient(KubernetesObjectApi);
  }

  async create(name: string, spec: RemoteManifestSpec, finalizers?: string[]): Promise<RemoteManifest> {
    return await this.objects.create({
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, namespace: this.namespace, finalizers },
      spec,
    } as never);
  }

  async read(name: string): Promise<RemoteManifest | undefined> {
    try {
      return (await this.objects.read({
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace: this.namespace },
      })) as RemoteManifest;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /** Merge patch of the spec (lists are replaced whole) or of metadata. */
  async patch(name: string, body: { spec?: Partial<RemoteManifestSpec>; metadata?: object }): Promise<void> {
    await this.objects.patch(
      {
        apiVersion: API_VERSION,
        kind: KIND,
        ...body,
        metadata: { ...body.metadata, name, namespace: this.namespace },
      } as never,
      undefined,
      undefined,
      undefined,
      undefined,
      'application/merge-patch+json',
    );
  }

  async delete(name: string): Promise<void> {
    await this.objects
      .delete({ apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace: this.namespace } })
      .catch((e: { code?: number }) => {
        if (e.code !== 404) throw e;
      });
  }

  async gone(name: string, timeoutMs = 30_000): Promise<void> {
    await eventually(`${name} gone`, async () => ((await this.read(name)) ? undefined : true), timeoutMs, 100);
  }

  /** Waits until the condition shows `status` (and `reason`) for the current generation. */
  async condition(
    name: string,
    type: string,
    status: string,
    reason?: string,
    timeoutMs = 30_000,
  ): Promise<RemoteManifest> {
    return eventually(
      `${name} ${type}=${status}${reason ? ` (${reason})` : ''}`,
      async () => {
        const rm = await this.read(name);
        const c = conditionOf(rm, type);
        const ok =
          c?.status === status && (!reason || c.reason === reason) && c.observedGeneration === rm?.metadata?.generation;
        return ok ? rm : undefined;
      },
      timeoutMs,
      100,
    );
  }
}

export function conditionOf(rm: RemoteManifest | undefined, type: string): Condition | undefined {
  return rm?.status?.conditions?.find((c) => c.type === type);
}

/** A remote cluster's objects, as its admin sees and changes them (raw requests). */
export class RemoteObjects {
  readonly client: ClusterClient;

  constructor(kc: KubeConfig, name: string) {
    this.client = new ClusterClient({ name, kubeConfig: kc });
  }

  async configMap(namespace: string, name: string): Promise<RemoteConfigMap | undefined> {
    try {
      return await this.client.request<RemoteConfigMap>('GET', cmPath(namespace, name));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** A merge patch, as `kubectl patch --type merge` (its own field manager). */
  async mergePatch(path: string, body: object): Promise<void> {
    await this.client.request('PATCH', path, {
      body,
      contentType: 'application/merge-patch+json',
      query: { fieldManager: 'kubectl-patch' },
    });
  }

  async gone(namespace: string, name: string, timeoutMs = 20_000): Promise<void> {
    await eventually(
      `ConfigMap ${namespace}/${name} gone`,
      async () => ((await this.configMap(namespace, name)) ? undefined : true),
      timeoutMs,
      100,
    );
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export type RemoteConfigMap = KubeObject & { data?: Record<string, string> };

export function cmPath(namespace: string, name?: string): string {
  return `/api/v1/namespaces/${namespace}/configmaps${name ? `/${name}` : ''}`;
}
