// The public surface for code that extends clusterregistry.
export { ClusterRegistryModule, type ClusterRegistryModuleOptions } from './clusterregistry.module.js';
export { AppModule, type AppOptions } from './app/app.module.js';
export { RemoteClusterRegistry } from './registry/remote-cluster.registry.js';
export * from './registry/errors.js';
export type { ClusterPhase, ClusterStatus, SpawnOptions, StopOptions } from './registry/types.js';
export { RemoteClusterModule } from './cluster/remote-cluster.module.js';
export type { RemoteClusterModuleOptions } from './cluster/remote-cluster.module-definition.js';
export { CLUSTER_CLIENT, CLUSTER_NAME, MANAGE_CLIENT } from './cluster/tokens.js';
export { Reconciler } from './reconcile/reconciler.decorator.js';
export type * from './reconcile/types.js';
export { ClusterClient } from './client/cluster-client.js';
export { KubeApiError, failureReason, type FailureReason } from './client/errors.js';
export type { KubeObject, InformerEvent } from './cache/types.js';
