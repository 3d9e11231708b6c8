// The one place where the peer comparison touches clusterregistry's code (directly or through
// bench/support.ts): when src/ moves, re-point the imports here. Everything else in bench/peer*
// speaks in kubeconfig paths, names and plain objects.
//
// The ready-made app is measured as its own process (bench/app-process.ts), never loaded here.
import { KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../../src/envtest/crd.js';
import { decodeWatchEvents } from '../../src/client/watch-decoder.js';
import { bareList, createNamespace, startRoot, withClusters, type RootApp } from '../support.js';

const kubeConfigs = new Map<string, KubeConfig>();

/** Parsed once per path, as the peer parses its rest.Configs once: timings start after that. */
function loadKubeConfig(path: string): KubeConfig {
  let kc = kubeConfigs.get(path);
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromFile(path);
    kubeConfigs.set(path, kc);
  }
  return kc;
}

// ---------------------------------------------------------------------------------------------
// Local clusters, by kubeconfig path

/** Starts `count` local clusters (manage, remote-1, …), runs fn with their kubeconfig paths by
 * name, and stops them whatever happens. */
export async function withLocalClusters<T>(
  count: number,
  fn: (kubeconfigs: Map<string, string>) => Promise<T>,
): Promise<T> {
  return withClusters(count, (clusters) => fn(new Map(clusters.clusters.map((c) => [c.name, c.kubeconfigPath]))));
}

/** What the ready-made app needs in its manage cluster: the RemoteCluster CRD and the namespace
 * of its leader Lease (none of it is created by the app itself). */
export async function prepareManage(kubeconfigPath: string, podNamespace = 'clusterregistry-system'): Promise<void> {
  const kc = loadKubeConfig(kubeconfigPath);
  for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(kc, crd);
  const client = new ClusterClient({ name: 'manage', kubeConfig: kc });
  try {
    await createNamespace(client, podNamespace);
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Runtimes: the bench root app (ClusterRegistryModule.forRoot) with one Pod reconciler each

export interface OurRuntimes {
  spawn(name: string, kubeconfigPath: string): Promise<void>;
  waitForSync(name: string, timeoutMs: number): Promise<void>;
  stop(name: string): Promise<void>;
  /** Objects in the runtime's Pod cache. */
  cached(name: string): number;
  close(): Promise<void>;
}

export async function startRuntimes(options: {
  manageKubeconfig: string;
  /** The namespace the runtime named `name` watches; asked when it is spawned. */
  namespaceOf: (name: string) => string;
  /** Every reconcile, with the pod as the runtime's cache holds it (undefined once deleted). */
  onReconcile?: (name: string, pod: unknown) => void;
}): Promise<OurRuntimes> {
  const onReconcile = options.onReconcile;
  const root: RootApp = await startRoot({
    manage: loadKubeConfig(options.manageKubeconfig),
    hooks: {
      namespaceOf: options.namespaceOf,
      onReconcile: onReconcile && ((cluster, req, ctx) => onReconcile(cluster, ctx.cache.get(req.namespace, req.name))),
    },
  });
  return {
    spawn: (name, path) => root.registry.spawn(name, loadKubeConfig(path)),
    waitForSync: (name, timeoutMs) => root.registry.waitForSync(name, { timeoutMs }),
    stop: (name) => root.registry.stop(name),
    cached: (name) => root.registry.status(name)?.watches[0]?.objects ?? 0,
    close: () => root.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Floors: a bare client (its own connection pool) that lists or watches, nothing else

export interface BareClient {
  /** Every page of a namespace's pods (limit 500), parsed; returns the count. */
  list(namespace: string): Promise<number>;
  /** Lists one pod for a resourceVersion, watches from it, calls onModified with each MODIFIED
   * object until the signal aborts. Resolves once the watch is open, with its end. */
  watch(namespace: string, onModified: (pod: unknown) => void, signal: AbortSignal): Promise<{ ended: Promise<void> }>;
  close(): Promise<void>;
}

export function bareClient(kubeconfigPath: string, name: string): BareClient {
  const client = new ClusterClient({ name, kubeConfig: loadKubeConfig(kubeconfigPath) });
  return {
    list: (namespace) => bareList(client, namespace, 500),
    watch: async (namespace, onModified, signal) => {
      const path = `/api/v1/namespaces/${namespace}/pods`;
      const list = await client.request<{ metadata: { resourceVersion: string } }>('GET', path, {
        query: { limit: 1 },
      });
      const { body } = await client.stream(
        path,
        { watch: 1, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 600 },
        signal,
        120_000,
      );
      const ended = (async () => {
        try {
          for await (const event of decodeWatchEvents(body, { what: 'bare watch' }))
            if (event.type === 'MODIFIED') onModified(event.object);
        } catch (err) {
          if (!signal.aborted) throw err;
        }
      })();
      return { ended };
    },
    close: () => client.close(),
  };
}
