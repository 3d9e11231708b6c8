import { readFileSync } from 'node:fs';
import {
  ApiException,
  ApiextensionsV1Api,
  loadAllYaml,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { pollUntil } from './http.js';

/** Reads every CustomResourceDefinition from a YAML file (other documents are ignored). */
export function loadCrds(path: string): V1CustomResourceDefinition[] {
  return (loadAllYaml(readFileSync(path, 'utf8')) as V1CustomResourceDefinition[]).filter(
    (doc) => doc?.kind === 'CustomResourceDefinition',
  );
}

/** Creates or replaces a CRD and waits until the apiserver serves it (Established=True). */
export async function installCrd(kc: KubeConfig, crd: V1CustomResourceDefinition, timeoutMs = 30_000): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = crd.metadata?.name;
  if (!name) throw new Error('CRD without metadata.name');
  try {
    await api.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if (!(err instanceof ApiException) || err.code !== 409) throw err;
    const current = await api.readCustomResourceDefinition({ name });
    await api.replaceCustomResourceDefinition({
      name,
      body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } },
    });
  }
  await pollUntil(
    `CRD ${name} established`,
    async () => {
      const current = await api.readCustomResourceDefinition({ name });
      return (current.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
    },
    { timeoutMs, intervalMs: 100 },
  );
}
