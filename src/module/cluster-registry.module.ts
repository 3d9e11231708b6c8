import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { ClusterClient } from '../client/cluster-client.js';
import { NetworkPolicy } from '../client/network-policy.js';
import { ClusterEventRecorder } from '../events/event-recorder.js';
import { ClusterRegistryHealthIndicator } from '../health/cluster-registry.health.js';
import { LeaderElectionGate } from '../leader/leader-election.gate.js';
import { Orchestrator } from '../lifecycle/orchestrator.js';
import { AlwaysRunGate, RUN_GATE, SINGLETON_GATE, type RunGate } from '../lifecycle/run-gate.js';
import { NO_METRICS } from '../manager/engine-metrics.js';
import { METRICS_SERVER_OPTIONS, MetricsServer } from '../metrics/metrics.server.js';
import { PrometheusMetrics } from '../metrics/prometheus-metrics.js';
import { FairLimiter } from '../queue/fair-limiter.js';
import { ReconcilerExplorer } from '../reconcile/reconciler.explorer.js';
import { REGISTRY_OPTIONS, type RegistryOptions } from '../registry/registry-options.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { REMOTE_CLUSTER_CONTROLLER_OPTIONS } from '../remotecluster/options.js';
import { RemoteClusterReconciler } from '../remotecluster/remote-cluster.reconciler.js';
import type { Engine } from '../runtime/engine.js';
import { ShardCoordinator } from '../sharding/shard-coordinator.js';
import { ENGINE, EVENT_RECORDER, MANAGE_CLIENT, MANAGE_CLUSTER_NAME } from '../runtime/tokens.js';
import {
  CLUSTER_REGISTRY_ASYNC_OPTIONS_TYPE,
  CLUSTER_REGISTRY_OPTIONS,
  CLUSTER_REGISTRY_OPTIONS_TYPE,
  ClusterRegistryModuleBase,
} from './cluster-registry.module-definition.js';
import type { ClusterRegistryOptions, RemoteClusterFeature } from './options.js';
import { featureModule, RemoteFeatureExplorer } from './remote-features.js';

type Options = ClusterRegistryOptions;

/**
 * The root module: the manage client, the registry of remote cluster runtimes, the engine for
 * the root app's own (manage) reconcilers, and the parts an app switches on by giving their
 * options: the RemoteCluster controller, leader election, sharding, Prometheus metrics. Every part is
 * decided from the options at start-up, so forRootAsync() offers exactly what forRoot() does.
 *
 *   ClusterRegistryModule.forRoot({ manageKubeConfig, remoteClusters: { secretNamespace: 'ops' } })
 *   ClusterRegistryModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory })
 *   ClusterRegistryModule.forFeature({ reconcilers: [PodMirror] })   // in any feature module
 */
@Module({
  // No ScheduleModule.forRoot(): NestJS tells modules apart by reference, so a second one beside the
  // app's would run each of the app's @Interval and @Cron twice (the orchestrator takes the app's
  // SchedulerRegistry when there is one).
  imports: [DiscoveryModule, TerminusModule.forRoot({ logger: false })],
  providers: [
    {
      provide: MANAGE_CLIENT,
      useFactory: (options: Options) =>
        new ClusterClient({ name: MANAGE_CLUSTER_NAME, kubeConfig: options.manageKubeConfig }),
      inject: [CLUSTER_REGISTRY_OPTIONS],
    },
    {
      provide: PrometheusMetrics,
      useFactory: (options: Options) =>
        options.metrics ? new PrometheusMetrics({ defaultMetrics: options.metrics.defaultMetrics }) : null,
      inject: [CLUSTER_REGISTRY_OPTIONS],
    },
    {
      provide: ENGINE,
      useFactory: (options: Options, metrics: PrometheusMetrics | null): Engine => ({
        limiter: new FairLimiter(options.maxConcurrentReconciles ?? 64, { reserve: options.reservedReconciles }),
        metrics: metrics ?? NO_METRICS,
        informerOptions: options.informer,
        stopGraceMs: options.stopGraceMs ?? 5_000,
        probeIntervalMs: options.probeIntervalMs ?? 15_000,
        events: {
          // The replica's name in the Lease names it in events too (else the host name: the pod's).
          reportingInstance: options.leaderElection?.identity,
          ...options.events,
        },
      }),
      inject: [CLUSTER_REGISTRY_OPTIONS, PrometheusMetrics],
    },
    {
      // Sharding only when asked for; null otherwise.
      provide: ShardCoordinator,
      useFactory: (options: Options, manage: ClusterClient, metrics: PrometheusMetrics | null) =>
        options.sharding
          ? new ShardCoordinator(
              manage,
              { ...options.sharding, identity: options.sharding.identity ?? options.leaderElection?.identity },
              metrics ?? undefined,
            )
          : null,
      inject: [CLUSTER_REGISTRY_OPTIONS, MANAGE_CLIENT, PrometheusMetrics],
    },
    {
      // The manage cluster's recorder: events about RemoteClusters and other manage objects.
      // The Orchestrator closes it, after the runtimes and before the manage client.
      provide: EVENT_RECORDER,
      useFactory: (engine: Engine, manage: ClusterClient) =>
        new ClusterEventRecorder({
          cluster: MANAGE_CLUSTER_NAME,
          client: manage,
          metrics: engine.metrics.events?.(MANAGE_CLUSTER_NAME),
          ...engine.events,
        }),
      inject: [ENGINE, MANAGE_CLIENT],
    },
    {
      provide: REGISTRY_OPTIONS,
      useFactory: (options: Options, features: RemoteFeatureExplorer, gate: RunGate): RegistryOptions => {
        const { networks, ...connections } = options.connections ?? {};
        return {
          contents: () => features.contents(),
          // Always a policy: without settings it still denies link-local (cloud metadata).
          connections: { ...connections, networkPolicy: NetworkPolicy.from(networks) },
          // A runtime starts only where it may run: with sharding, for a cluster whose shard Lease
          // this replica holds; with leader election, on the leader (a standby's runtime would
          // reconcile beside the leader's). A single replica runs whatever it is asked to.
          ...admission(gate),
          maxConcurrentSpawns: options.maxConcurrentSpawns,
        };
      },
      inject: [CLUSTER_REGISTRY_OPTIONS, RemoteFeatureExplorer, RUN_GATE],
    },
    {
      // Sharding: every replica runs (the coordinator is the gate); otherwise the leader, or always.
      provide: RUN_GATE,
      useFactory: (options: Options, manage: ClusterClient, shards: ShardCoordinator | null): RunGate =>
        shards ??
        (options.leaderElection ? new LeaderElectionGate(manage, options.leaderElection) : new AlwaysRunGate()),
      inject: [CLUSTER_REGISTRY_OPTIONS, MANAGE_CLIENT, ShardCoordinator],
    },
    {
      // Sharding with leader election: the gate of the singleton manage reconcilers.
      provide: SINGLETON_GATE,
      useFactory: (options: Options, manage: ClusterClient): RunGate | null =>
        options.sharding && options.leaderElection
          ? new LeaderElectionGate(manage, {
              ...options.leaderElection,
              identity: options.leaderElection.identity ?? options.sharding.identity,
            })
          : null,
      inject: [CLUSTER_REGISTRY_OPTIONS, MANAGE_CLIENT],
    },
    {
      provide: REMOTE_CLUSTER_CONTROLLER_OPTIONS,
      useFactory: (options: Options) => options.remoteClusters ?? null,
      inject: [CLUSTER_REGISTRY_OPTIONS],
    },
    {
      // A manage reconciler only when asked for: null is skipped by discovery.
      provide: RemoteClusterReconciler,
      useFactory: (options: Options, ...deps: ConstructorParameters<typeof RemoteClusterReconciler>) =>
        options.remoteClusters ? new RemoteClusterReconciler(...deps) : null,
      inject: [
        CLUSTER_REGISTRY_OPTIONS,
        RemoteClusterRegistry,
        Orchestrator,
        MANAGE_CLIENT,
        REMOTE_CLUSTER_CONTROLLER_OPTIONS,
        EVENT_RECORDER,
      ],
    },
    {
      provide: METRICS_SERVER_OPTIONS,
      useFactory: (options: Options) => options.metrics?.server ?? null,
      inject: [CLUSTER_REGISTRY_OPTIONS],
    },
    RemoteFeatureExplorer,
    RemoteClusterRegistry,
    ReconcilerExplorer,
    Orchestrator,
    MetricsServer,
    ClusterRegistryHealthIndicator,
  ],
  exports: [
    MANAGE_CLIENT,
    ENGINE,
    EVENT_RECORDER,
    RemoteClusterRegistry,
    Orchestrator,
    ShardCoordinator,
    PrometheusMetrics,
    MetricsServer,
    ClusterRegistryHealthIndicator,
  ],
})
export class ClusterRegistryModule extends ClusterRegistryModuleBase {
  static override forRoot(options: typeof CLUSTER_REGISTRY_OPTIONS_TYPE): DynamicModule {
    return super.forRoot(options);
  }

  static override forRootAsync(options: typeof CLUSTER_REGISTRY_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }

  /** Adds remote reconcilers (and what they need) to every cluster context, from any module. */
  static forFeature(feature: RemoteClusterFeature): DynamicModule {
    return featureModule(feature);
  }
}

/** Which spawns this replica's run gate lets through (see RegistryOptions.admits). */
function admission(gate: RunGate): Pick<RegistryOptions, 'admits' | 'refusal'> {
  if (gate.owns) return { admits: (name) => gate.owns!(name), refusal: 'another replica holds its shard' };
  if (gate instanceof LeaderElectionGate)
    return { admits: () => gate.active, refusal: 'this replica is not the leader' };
  return {};
}
