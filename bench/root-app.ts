// The benches' root app (ClusterRegistryModule.forRoot with one Pod reconciler per remote runtime,
// its namespace and behaviour chosen by each bench) and the bare list the sync floors take. Only
// the library and NestJS: bench:peer's measurement processes load it, and their RSS is a figure.
import { Inject, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { KubeConfig } from '@kubernetes/client-node';
import type { InformerOptions } from '../src/cache/informer.js';
import type { ClusterClient } from '../src/client/cluster-client.js';
import type { ManageKubeconfig } from '../src/client/manage-kubeconfig.js';
import { ClusterRegistryModule } from '../src/module/cluster-registry.module.js';
import { Reconciler } from '../src/reconcile/reconciler.decorator.js';
import type { Reconcile, ReconcileContext, ReconcileRequest, ReconcilerOptions } from '../src/reconcile/types.js';
import { RemoteClusterRegistry } from '../src/registry/remote-cluster.registry.js';
import { CLUSTER_NAME } from '../src/runtime/tokens.js';

/** What the benches decide about the reconciler of each runtime. */
export interface BenchHooks {
  /** The namespace the runtime named `cluster` watches. */
  namespaceOf(cluster: string): string;
  /** Called by every reconcile; keep it cheap. A promise it returns is the reconcile's work. */
  onReconcile?(cluster: string, request: ReconcileRequest, ctx: ReconcileContext): void | Promise<void>;
  /** Reconciles at once per runtime (default 1). */
  concurrency?: number;
}

export const BENCH_HOOKS = Symbol('BENCH_HOOKS');

@Reconciler({ apiVersion: 'v1', kind: 'Pod', name: 'bench-pods' })
export class BenchPodReconciler implements Reconcile {
  constructor(
    @Inject(BENCH_HOOKS) private readonly hooks: BenchHooks,
    @Inject(CLUSTER_NAME) private readonly cluster: string,
  ) {}

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return { namespace: this.hooks.namespaceOf(this.cluster), concurrency: this.hooks.concurrency };
  }

  reconcile(request: ReconcileRequest, ctx: ReconcileContext): void | Promise<void> {
    return this.hooks.onReconcile?.(this.cluster, request, ctx);
  }
}

export interface RootApp {
  app: INestApplicationContext;
  registry: RemoteClusterRegistry;
  close(): Promise<void>;
}

/** The root app as the integration tests make it: ClusterRegistryModule.forRoot with the bench
 * reconciler for every remote runtime. */
export async function startRoot(options: {
  manage: KubeConfig | ManageKubeconfig;
  hooks: BenchHooks;
  informer?: InformerOptions;
  maxConcurrentReconciles?: number;
  reservedReconciles?: number;
  stopGraceMs?: number;
  maxConcurrentSpawns?: number;
}): Promise<RootApp> {
  @Module({
    imports: [
      ClusterRegistryModule.forRoot({
        manageKubeConfig: options.manage,
        remote: {
          reconcilers: [BenchPodReconciler],
          providers: [{ provide: BENCH_HOOKS, useValue: options.hooks }],
        },
        stopGraceMs: options.stopGraceMs ?? 1_000,
        informer: options.informer,
        maxConcurrentReconciles: options.maxConcurrentReconciles,
        reservedReconciles: options.reservedReconciles,
        maxConcurrentSpawns: options.maxConcurrentSpawns,
      }),
    ],
  })
  class BenchRootModule {}
  const app = await NestFactory.createApplicationContext(BenchRootModule, { logger: ['error', 'warn'] });
  return { app, registry: app.get(RemoteClusterRegistry), close: () => app.close() };
}

interface ListPage {
  metadata?: { continue?: string };
  items?: unknown[];
}

/** The floor of an informer's first sync: every page of a namespace's pods, parsed. */
export async function bareList(client: ClusterClient, namespace: string, limit = 500): Promise<number> {
  let items = 0;
  let token: string | undefined;
  do {
    const page = await client.request<ListPage>('GET', `/api/v1/namespaces/${namespace}/pods`, {
      query: { limit, continue: token },
    });
    items += page.items?.length ?? 0;
    token = page.metadata?.continue || undefined;
  } while (token);
  return items;
}
