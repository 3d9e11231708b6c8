// The one place where the peer comparison touches clusterregistry's code (directly or through
// bench/support.ts): when src/ moves, re-point the imports here. Everything else in bench/peer*
// speaks in kubeconfig paths, names and plain objects.
//
// The ready-made app's modules (src/main.ts's imports) are loaded only by startReadyMadeApp(),
// with import(): a process measuring runtimes must not carry Express, terminus and prom-client,
// and the rss-baseline process must load exactly what main.ts loads.
import { KubeConfig } from '@kubernetes/client-node';
import { get } from 'node:http';
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

// ---------------------------------------------------------------------------------------------
// The ready-made app, as src/main.ts builds it (metrics and probes on)

export interface ReadyMadeApp {
  probePort: number;
  metricsPort: number;
  close(): Promise<void>;
}

/** Loads main.ts's modules and starts AppModule (example reconciler on), probes and metrics on
 * free ports of 127.0.0.1; resolves once /readyz answers 200 (no RemoteCluster: no runtime). */
export async function startReadyMadeApp(manageKubeconfig: string): Promise<ReadyMadeApp> {
  // main.ts's imports, all of them.
  const [
    { NestFactory },
    { AppModule },
    { manageKubeConfig },
    { ProbeServer },
    { loadSettings },
    { JsonLogger, MetricsServer },
  ] = await Promise.all([
    import('@nestjs/core'),
    import('../../src/app/app.module.js'),
    import('../../src/app/manage-config.js'),
    import('../../src/app/probe.server.js'),
    import('../../src/app/settings.js'),
    import('../../src/index.js'),
  ]);
  const env = {
    ...process.env,
    KUBECONFIG: manageKubeconfig,
    PROBE_PORT: '0',
    METRICS_PORT: '0',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
  };
  const settings = loadSettings(env);
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({ settings, manageKubeConfig: manageKubeConfig(env)! }),
    { logger: new JsonLogger(settings.logLevel), abortOnError: false },
  );
  const probePort = app.get(ProbeServer).port ?? 0;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await httpStatus(`http://127.0.0.1:${probePort}/readyz`);
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`ready-made app: /readyz still ${status} after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { probePort, metricsPort: app.get(MetricsServer).port ?? 0, close: () => app.close() };
}

/** node:http rather than fetch(): fetch would load Node's bundled undici into the measured process. */
function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}
