import { Module, type DynamicModule, type Type } from '@nestjs/common';
import type { KubeConfig } from '@kubernetes/client-node';
import { ClusterRegistryModule } from '../clusterregistry.module.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import { HealthModule } from '../health/health.module.js';
import { LeaderService } from '../leader/leader.service.js';
import { MetricsServer } from '../metrics/metrics.server.js';
import { PrometheusMetrics } from '../metrics/prometheus-metrics.js';
import { RemoteClusterReconciler } from '../remotecluster/remote-cluster.reconciler.js';

export interface AppOptions {
  settings: Settings;
  manageKubeConfig: KubeConfig;
  /** Reconcilers run in every remote cluster context. */
  remoteReconcilers?: Type[];
  /** Further manage reconcilers and providers of the root app. */
  providers?: Type[];
}

/** The deployable app: registry, RemoteCluster controller, leader election, probes, metrics. */
@Module({})
export class AppModule {
  static forRoot(options: AppOptions): DynamicModule {
    const metrics = new PrometheusMetrics();
    const settingsProvider = { provide: SETTINGS, useValue: options.settings };
    return {
      module: AppModule,
      // Global: the health module reads the leader state and the settings.
      global: true,
      imports: [
        ClusterRegistryModule.forRoot({
          manageKubeConfig: options.manageKubeConfig,
          remote: {
            reconcilers: options.remoteReconcilers ?? [],
            // Remote reconcilers may read the app's settings (namespace for their output, …).
            providers: [settingsProvider],
            stopGraceMs: Math.min(5_000, options.settings.clusterStopTimeoutMs),
          },
          maxConcurrentReconciles: options.settings.maxConcurrentReconciles,
          metrics,
          // Leader election decides when the manage reconcilers run.
          startManageReconcilers: false,
        }),
        HealthModule,
      ],
      providers: [
        settingsProvider,
        { provide: PrometheusMetrics, useValue: metrics },
        LeaderService,
        MetricsServer,
        RemoteClusterReconciler,
        ...(options.providers ?? []),
      ],
      exports: [SETTINGS, LeaderService, PrometheusMetrics],
    };
  }
}
