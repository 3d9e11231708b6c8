/** The cluster's name inside its own context (a string). */
export const CLUSTER_NAME = Symbol('CLUSTER_NAME');
/** The cluster's ClusterClient inside its own context. */
export const CLUSTER_CLIENT = Symbol('CLUSTER_CLIENT');
/** The manage cluster's ClusterClient: global in the root app and in every cluster context. */
export const MANAGE_CLIENT = Symbol('MANAGE_CLIENT');
/** The EventRecorder of the cluster a provider lives in: in a remote cluster's context that
 * cluster's, in the root app the manage cluster's (events go where the object lives). */
export const EVENT_RECORDER = Symbol('EVENT_RECORDER');
/** The process-wide Engine (limiter, metrics, defaults) every runtime uses. */
export const ENGINE = Symbol('ENGINE');

/** The name of the manage cluster's runtime in logs and metrics; no remote cluster may take it. */
export const MANAGE_CLUSTER_NAME = 'manage';
/** With sharding, the runtime of the manage reconcilers that run once per fleet (`singleton`),
 * under the leader Lease. Not a valid RemoteCluster name, so no remote cluster can take it. */
export const MANAGE_LEADER_NAME = 'manage:leader';
/** Names no remote cluster runtime may have. */
export const RESERVED_CLUSTER_NAMES: readonly string[] = [MANAGE_CLUSTER_NAME, MANAGE_LEADER_NAME];
