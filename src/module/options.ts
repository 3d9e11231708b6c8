import type { InjectionToken, ModuleMetadata, Provider, Type } from '@nestjs/common';
import type { KubeConfig } from '@kubernetes/client-node';
import type { InformerOptions } from '../cache/informer.js';
import type { ManageKubeconfig } from '../client/manage-kubeconfig.js';
import type { NetworkPolicySpec } from '../client/network-policy.js';
import type { LeaderElectionOptions } from '../leader/leader-election.gate.js';
import type { EngineEventOptions } from '../runtime/engine.js';
import type { MetricsServerOptions } from '../metrics/metrics.server.js';
import type { RemoteClusterControllerOptions } from '../remotecluster/options.js';
import type { ShardingOptions } from '../sharding/options.js';

/** What every remote cluster context holds: reconcilers and what they depend on. */
export interface RemoteClusterFeature {
  /** @Reconciler classes run in every remote cluster context (one instance per cluster). */
  reconcilers?: Type[];
  /** Modules and providers the reconcilers depend on, made once per cluster context. */
  imports?: ModuleMetadata['imports'];
  providers?: Provider[];
}

/** How every remote cluster is reached. Kubeconfigs and what endpoints send are untrusted: these
 * are the operator's bounds on them. */
export interface RemoteConnectionOptions {
  /** Accept http:// servers and insecure-skip-tls-verify (off, as Flux's --insecure-kubeconfig-tls). */
  allowInsecure?: boolean;
  /** Networks remote servers and proxies may be in (CIDR lists; link-local, where cloud metadata
   * lives, is denied unless `defaultDeny: false`). */
  networks?: NetworkPolicySpec;
  /** Largest answer to a non-watch request (default 32 MiB). */
  maxResponseBytes?: number;
  /** Largest single watch event (default 4 MiB). */
  maxWatchEventBytes?: number;
  /** Deadline of one request (default 60 s) and of connecting (default 10 s). */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export interface ClusterRegistryOptions {
  /** The manage cluster: client-node's KubeConfig, or ManageKubeconfig.load() (KUBECONFIG or the
   * pod's service account, without loading client-node when it is not needed). Trusted. */
  manageKubeConfig: KubeConfig | ManageKubeconfig;
  /** Remote reconcilers listed at the root (feature modules add theirs with forFeature()), and
   * `share`: tokens of the root app's providers handed to every cluster context as they are. */
  remote?: RemoteClusterFeature & { share?: InjectionToken[] };
  connections?: RemoteConnectionOptions;
  /** Reconciles running at once across all clusters, shared fairly between them (default 64): a
   * freed slot goes to the clusters waiting in turn, and a cluster beyond its fair share may only
   * borrow slots the others did not use in the last second or two. */
  maxConcurrentReconciles?: number;
  /** Of those, slots no single cluster may take, so a cluster's first change does not wait behind
   * another's flood (default a quarter: one cluster runs at most 48 of 64). */
  reservedReconciles?: number;
  /** Cluster contexts built at once (default 8): further spawns wait their turn, in order, each
   * within its own deadline. 100 clusters spawned together connect sooner this way than all
   * built in lockstep. A context whose bootstrap takes over 5 s gives its turn up and goes on. */
  maxConcurrentSpawns?: number;
  informer?: InformerOptions;
  /** Grace for reconciles to return after a stop aborted them (default 5 s). */
  stopGraceMs?: number;
  /** How often each cluster's access probe runs (default 15 s). */
  probeIntervalMs?: number;
  /** Runs the RemoteCluster controller: RemoteCluster objects and their kubeconfig Secrets
   * drive the registry. Off when absent. */
  remoteClusters?: RemoteClusterControllerOptions;
  /** Runs only while this replica holds a Lease in the manage cluster. Off when absent. With
   * `sharding`, only the manage reconcilers marked `singleton` run under it. */
  leaderElection?: LeaderElectionOptions;
  /** Every replica works: RemoteClusters are hashed onto shards, each shard runs on one replica
   * (fenced by its own Lease), shards are spread over the live replicas by rendezvous hashing.
   * Off when absent (one replica runs everything, with leaderElection while it leads). */
  sharding?: ShardingOptions;
  /** How Kubernetes Events are written (each cluster's recorder): `reportingInstance` (default
   * the leader-election identity, else the host name), `queueSize` (1000), `aggregationWindowMs`
   * (10 min), `rateLimit` per object ({ burst: 25, refillMs: 300000 }). */
  events?: EngineEventOptions;
  /** Prometheus metrics (inject PrometheusMetrics to serve them), and with `server`, /metrics on
   * a port of its own. Off when absent. */
  metrics?: { defaultMetrics?: boolean; server?: MetricsServerOptions };
}
