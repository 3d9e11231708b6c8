import { Module, type DynamicModule, type Provider, type Type } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { KubeConfig } from '@kubernetes/client-node';
import { ClusterRegistryModule, type ManageKubeconfig } from '../index.js';
import { PodSummaryReconciler } from './examples/pod-summary.reconciler.js';
import { ProbeServer } from './probe.server.js';
import { ManifestHub } from './remotemanifest/manifest-hub.js';
import { ManifestStatusReconciler } from './remotemanifest/manifest-status.reconciler.js';
import { RemoteManifestSummaryReconciler } from './remotemanifest/manifest-summary.reconciler.js';
import { RemoteManifestReconciler } from './remotemanifest/remote-manifest.reconciler.js';
import { SETTINGS, type Settings } from './settings.js';

export interface AppOptions {
  settings: Settings;
  manageKubeConfig: KubeConfig | ManageKubeconfig;
  /** Reconcilers run in every remote cluster context, besides the example, and what they need. */
  remoteReconcilers?: Type[];
  remoteProviders?: Provider[];
  /** Further manage reconcilers (and providers) of the root app. */
  providers?: Provider[];
}

/**
 * The ready-made app: one composition of the library's public parts, configured from the
 * environment (see settings.ts): the RemoteCluster controller, RemoteManifests, leader election
 * or sharding,
 * /metrics on its own port, /healthz and /readyz (ProbeServer), and the example reconciler.
 */
@Module({})
export class AppModule {
  static forRoot({
    settings,
    manageKubeConfig,
    remoteReconcilers = [],
    remoteProviders = [],
    providers = [],
  }: AppOptions): DynamicModule {
    // RemoteManifests: the manage reconciler in the root, the status mirror in every cluster,
    // and the hub where they meet, shared with the cluster contexts.
    const manifests = settings.remoteManifests;
    return {
      module: AppModule,
      imports: [
        ClusterRegistryModule.forRoot({
          manageKubeConfig,
          // Remote reconcilers may read the app's settings (the namespace for their output).
          remote: { share: manifests ? [SETTINGS, ManifestHub] : [SETTINGS] },
          connections: {
            allowInsecure: settings.allowInsecureKubeconfigTls,
            networks: { allow: settings.remoteAllowedNetworks, deny: settings.remoteDeniedNetworks },
            maxResponseBytes: settings.maxResponseBytes,
            maxWatchEventBytes: settings.maxWatchEventBytes,
          },
          maxConcurrentReconciles: settings.maxConcurrentReconciles,
          maxConcurrentSpawns: settings.maxConcurrentSpawns,
          stopGraceMs: Math.min(5_000, settings.clusterStopTimeoutMs),
          probeIntervalMs: settings.probeIntervalMs,
          remoteClusters: {
            secretNamespace: settings.secretNamespace,
            selector: settings.remoteClusterSelector,
            stopTimeoutMs: settings.clusterStopTimeoutMs,
          },
          leaderElection: settings.leaderElection
            ? {
                namespace: settings.podNamespace,
                leaseName: settings.leaseName,
                identity: settings.identity,
                leaseDurationMs: settings.leaseDurationMs,
                renewDeadlineMs: settings.renewDeadlineMs,
                retryPeriodMs: settings.retryPeriodMs,
              }
            : undefined,
          // Every replica works: clusters spread over the replicas by shard (SHARDS > 0).
          sharding:
            settings.shards > 0
              ? {
                  namespace: settings.podNamespace,
                  shards: settings.shards,
                  identity: settings.identity,
                  leaseDurationMs: settings.leaseDurationMs,
                  renewDeadlineMs: settings.renewDeadlineMs,
                  retryPeriodMs: settings.retryPeriodMs,
                  maxReplicas: settings.maxReplicas,
                  leasePrefix: settings.shardLeasePrefix,
                }
              : undefined,
          metrics: { server: { port: settings.metricsPort, bindAddress: settings.bindAddress } },
        }),
        ClusterRegistryModule.forFeature({
          reconcilers: [...(settings.exampleReconcilers ? [PodSummaryReconciler] : []), ...remoteReconcilers],
          providers: remoteProviders,
        }),
        ...(manifests ? [ClusterRegistryModule.forFeature({ reconcilers: [ManifestStatusReconciler] })] : []),
        TerminusModule.forRoot({ logger: false }),
      ],
      providers: [
        { provide: SETTINGS, useValue: settings },
        ProbeServer,
        ...(manifests ? [ManifestHub, RemoteManifestReconciler] : []),
        // Sharded, every replica applies to its own clusters and one (the leader) sums up.
        ...(manifests && settings.shards > 0 ? [RemoteManifestSummaryReconciler] : []),
        ...providers,
      ],
      exports: [SETTINGS, ProbeServer],
    };
  }
}
