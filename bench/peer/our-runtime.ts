// The one place where the peer comparison's measurement processes (bench/peer-side.ts) touch
// clusterregistry's code: when src/ moves, re-point the imports here. Everything else in
// bench/peer* speaks in kubeconfig paths, names and plain objects.
//
// Only the library and NestJS are loaded here, as in an app that uses the package: the process's
// RSS is a figure, and neither @kubernetes/client-node (which the library loads only for a
// kubeconfig that names files or runs a command) nor the embedded clusters' tooling is part of it
// (together 33.5 MiB of this process's RSS, unbundled). The clusters are bench/peer/our-clusters.ts's, in the bench's
// own process. The ready-made app is measured as its own process (bench/app-process.ts).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { parseKubeconfig, type ClusterConnectionConfig } from '../../src/client/kubeconfig.js';
import { ManageKubeconfig } from '../../src/client/manage-kubeconfig.js';
import { decodeWatchEvents } from '../../src/client/watch-decoder.js';
import { bareList, startRoot, type RootApp } from '../root-app.js';

/** The ready-made app's V8 flags, which our side sets as the image's app does. */
export { applyAppV8Flags } from '../../src/app/v8-flags.js';

/** `read`, called once per path: each kubeconfig is read before the timings, as the peer reads its
 * rest.Configs once. */
function oncePerPath<T>(read: (path: string) => T): (path: string) => T {
  const known = new Map<string, T>();
  return (path) => {
    if (!known.has(path)) known.set(path, read(path));
    return known.get(path)!;
  };
}

/** A kubeconfig as spawn() is given it here: in the shape of client-node's KubeConfig, whose
 * exportConfig() JSON each spawn parses and checks, as the runtimes were given it before. */
const remoteKubeconfig = oncePerPath((path): { exportConfig(): string } => {
  const json = JSON.stringify(parseYaml(readFileSync(path, 'utf8')));
  return { exportConfig: () => json };
});

/** The root app's manage kubeconfig. */
const manageKubeconfig = oncePerPath((path) => ManageKubeconfig.fromFile(path));

const floorConfig = oncePerPath((path) => parseKubeconfig(readFileSync(path, 'utf8'), { allowInsecure: true }));

/** A floor client's connection: the parsed kubeconfig with a tls object of its own, so that the
 * parser's checked TLS context (kept per tls object) is not shared and the connection builds its
 * own, as the peer's bare list builds its TLS config per client (rest.HTTPClientFor) and as the
 * floors did with client-node's KubeConfig before. */
function floorConnection(path: string): ClusterConnectionConfig {
  const config = floorConfig(path);
  return { ...config, tls: { ...config.tls } };
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
    manage: manageKubeconfig(options.manageKubeconfig),
    hooks: {
      namespaceOf: options.namespaceOf,
      onReconcile: onReconcile && ((cluster, req, ctx) => onReconcile(cluster, ctx.cache.get(req.namespace, req.name))),
    },
  });
  return {
    spawn: (name, path) => root.registry.spawn(name, remoteKubeconfig(path)),
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
  const client = new ClusterClient({ name, connection: floorConnection(kubeconfigPath) });
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
