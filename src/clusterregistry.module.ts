import { Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { KubeConfig } from '@kubernetes/client-node';
import type { InformerOptions } from './cache/informer.js';
import { ClusterClient } from './client/cluster-client.js';
import type { SharedRuntime } from './cluster/shared-runtime.js';
import { MANAGE_CLIENT } from './cluster/tokens.js';
import { ManageClientLifecycle } from './manage/manage-client.lifecycle.js';
import { MANAGE_CLUSTER_NAME, ManageRuntime } from './manage/manage-runtime.js';
import { NO_METRICS, type EngineMetrics } from './metrics/engine-metrics.js';
import { FairLimiter } from './queue/fair-limiter.js';
import { ReconcilerExplorer } from './reconcile/reconciler.explorer.js';
import { REGISTRY_OPTIONS, type RemoteRuntimeOptions } from './registry/registry-options.js';
import { RemoteClusterRegistry, SHARED_RUNTIME } from './registry/remote-cluster.registry.js';

export interface ClusterRegistryModuleOptions {
  /** The manage cluster (in-cluster config, KUBECONFIG, …). */
  manageKubeConfig: KubeConfig;
  /** What runs in every remote cluster context. */
  remote?: RemoteRuntimeOptions;
  /** Reconciles running at once across all clusters, shared fairly between them (default 64). */
  maxConcurrentReconciles?: number;
  informer?: InformerOptions;
  metrics?: EngineMetrics;
  /** Start the manage reconcilers at bootstrap (default true). Leader election turns this off
   * and starts them when this replica leads. */
  startManageReconcilers?: boolean;
}

class ManageAutostart implements OnApplicationBootstrap {
  constructor(
    private readonly runtime: ManageRuntime,
    private readonly enabled: boolean,
  ) {}

  onApplicationBootstrap(): void {
    if (this.enabled) this.runtime.start();
  }
}

/** The root module: the manage client, the registry of remote cluster runtimes, and the engine
 * for the root app's own (manage) reconcilers. Global, so any module of the app can inject them. */
@Module({})
export class ClusterRegistryModule {
  static forRoot(options: ClusterRegistryModuleOptions): DynamicModule {
    return {
      module: ClusterRegistryModule,
      global: true,
      imports: [DiscoveryModule],
      providers: [
        { provide: REGISTRY_OPTIONS, useValue: options.remote ?? {} },
        {
          provide: MANAGE_CLIENT,
          useFactory: () => new ClusterClient({ name: MANAGE_CLUSTER_NAME, kubeConfig: options.manageKubeConfig }),
        },
        { provide: FairLimiter, useFactory: () => new FairLimiter(options.maxConcurrentReconciles ?? 64) },
        {
          provide: SHARED_RUNTIME,
          useFactory: (manageClient: ClusterClient, limiter: FairLimiter): SharedRuntime => ({
            manageClient,
            limiter,
            metrics: options.metrics ?? NO_METRICS,
            informerOptions: options.informer ?? options.remote?.informer,
            stopGraceMs: options.remote?.stopGraceMs ?? 5_000,
          }),
          inject: [MANAGE_CLIENT, FairLimiter],
        },
        ManageClientLifecycle,
        ReconcilerExplorer,
        ManageRuntime,
        RemoteClusterRegistry,
        {
          provide: ManageAutostart,
          useFactory: (runtime: ManageRuntime) => new ManageAutostart(runtime, options.startManageReconcilers ?? true),
          inject: [ManageRuntime],
        },
      ],
      exports: [MANAGE_CLIENT, RemoteClusterRegistry, ManageRuntime, FairLimiter, SHARED_RUNTIME],
    };
  }
}
