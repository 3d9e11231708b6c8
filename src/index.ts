// The public contract of the package ("clusterregistry"). The Node check comes first on purpose.
import './util/node-version.js';

// The module and how to configure it
export { ClusterRegistryModule } from './module/cluster-registry.module.js';
export { CLUSTER_REGISTRY_OPTIONS } from './module/cluster-registry.module-definition.js';
export type { ClusterRegistryOptions, RemoteClusterFeature } from './module/options.js';

// Reconcilers
export { Reconciler } from './reconcile/reconciler.decorator.js';
export type * from './reconcile/types.js';

// The registry of remote cluster runtimes
export { RemoteClusterRegistry } from './registry/remote-cluster.registry.js';
export * from './registry/errors.js';
export type * from './registry/types.js';

// Cluster contexts and what can be injected in them
export { RemoteClusterModule, type RemoteClusterModuleOptions } from './runtime/remote-cluster.module.js';
export {
  CLUSTER_CLIENT,
  CLUSTER_NAME,
  ENGINE,
  EVENT_RECORDER,
  MANAGE_CLIENT,
  MANAGE_CLUSTER_NAME,
  MANAGE_LEADER_NAME,
} from './runtime/tokens.js';
export type { Engine, EngineEventOptions } from './runtime/engine.js';
export type { ControllerHealth } from './manager/controller.js';
export type { ManagerStatus, WatchStatus } from './manager/controller-manager.js';
export type { EngineMetrics, ReconcileOutcome } from './manager/engine-metrics.js';

// Kubernetes Events (events.k8s.io/v1): aggregated, rate limited, never blocking
export { ClusterEventRecorder, type ClusterEventRecorderOptions } from './events/event-recorder.js';
export {
  EVENT_DROP_REASONS,
  NO_EVENTS,
  type EventDropReason,
  type EventMetrics,
  type EventOptions,
  type EventRecorder,
  type EventRecorderStats,
  type EventType,
  type ObjectReference,
} from './events/types.js';

// Clients and objects
export {
  ClusterClient,
  type ClusterClientOptions,
  type RequestOptions,
  type WatchDecoding,
} from './client/cluster-client.js';
// What ClusterClient.watch returns: events one at a time (for await), or in batches (nextBatch).
export type { WatchEventStream } from './client/watch-stream.js';
export type { WatchEvent, WatchEventType } from './client/watch-decoder.js';
export { ManageKubeconfig } from './client/manage-kubeconfig.js';
export { describeFailure, failureReason, KubeApiError, type FailureReason } from './client/errors.js';
export { keyOf, objectKey, type InformerEvent, type KubeObject, type WatchSpec } from './cache/types.js';
// An informer of its own, for kinds a reconciler learns of only at run time.
export { Informer, type InformerOptions, type InformerState } from './cache/informer.js';
// The cache's transforms: the default (keeps managedFields, sharing equal field sets between
// objects) and one that drops them (the protobuf decoder then skips them unread).
export { shareManagedFields, stripManagedFields } from './cache/store.js';

// Running: the lifecycle owner, leader election, sharding, the process
export { Orchestrator } from './lifecycle/orchestrator.js';
export {
  AlwaysRunGate,
  RUN_GATE,
  SINGLETON_GATE,
  type OwnershipChange,
  type RunGate,
  type RunHooks,
} from './lifecycle/run-gate.js';
export { closeApp, exitOnSignals, reportUnhandledErrors, type SignalOptions } from './lifecycle/process.js';
export { LeaderElectionGate, type LeaderElectionOptions } from './leader/leader-election.gate.js';
export { ShardCoordinator, SHARDING_LABEL, type ShardingStatus } from './sharding/shard-coordinator.js';
export { shardingLeaseNames, type ShardingOptions, type ShardMetrics } from './sharding/options.js';
export { shardOf } from './sharding/hash.js';

// The RemoteCluster API and its controller
export { RemoteClusterReconciler, REMOTECLUSTER_EVENT_SOURCE } from './remotecluster/remote-cluster.reconciler.js';
export type { RemoteClusterControllerOptions } from './remotecluster/options.js';
export { sameConditions, setCondition } from './remotecluster/conditions.js';
// Compare a status you would write with the one read, as the apiserver orders its keys.
export { sameJson } from './util/same-json.js';
export {
  API_VERSION,
  FINALIZER,
  GROUP,
  KIND,
  PLURAL,
  type Condition,
  type RemoteCluster,
} from './remotecluster/types.js';

// Operations: health, metrics, logs
export { ClusterRegistryHealthIndicator } from './health/cluster-registry.health.js';
export { PrometheusMetrics, type RemoteClusterReadiness } from './metrics/prometheus-metrics.js';
export { MetricsServer, type MetricsServerOptions } from './metrics/metrics.server.js';
export { JsonLogger } from './logging/json-logger.js';
export { redact } from './logging/redact.js';

// Small helpers reconcilers need
export { boundedName } from './util/names.js';
