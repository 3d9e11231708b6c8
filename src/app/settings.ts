import type { LogLevel } from '@nestjs/common';

/** Every setting of the app, from environment variables with defaults (documented in the README). */
export interface Settings {
  /** Port of /healthz and /readyz. */
  probePort: number;
  /** Port of /metrics. */
  metricsPort: number;
  /** Address both listen on. */
  bindAddress: string;
  logLevel: LogLevel;
  /** The namespace this replica runs in (leases; default namespace for kubeconfig Secrets). */
  podNamespace: string;
  /** Namespace of kubeconfig Secrets (the only one whose Secrets the app may read). */
  secretNamespace: string;
  leaderElection: boolean;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Identity in the Leases and in RemoteClusters' status.owner (pod name in a cluster). */
  identity: string;
  /** Shards RemoteClusters are hashed onto; 0 turns sharding off (one replica runs everything). */
  shards: number;
  /** Member Lease slots: replicas at most, surge included (sharding). */
  maxReplicas: number;
  /** Prefix of the member and shard Lease names (sharding). */
  shardLeasePrefix: string;
  /** SIGTERM to exit, at most. */
  shutdownTimeoutMs: number;
  /** Bound on stopping one cluster runtime (deletion never hangs on an unreachable cluster). */
  clusterStopTimeoutMs: number;
  maxConcurrentReconciles: number;
  maxConcurrentSpawns: number;
  /** How often each cluster's access probe checks list/watch permissions. */
  probeIntervalMs: number;
  /** Only RemoteClusters matching this label selector are run by this app (default all). */
  remoteClusterSelector?: string;
  /** Run the example pod-summary reconciler in every remote cluster. */
  exampleReconcilers: boolean;
  /** Accept http:// servers and insecure-skip-tls-verify in remote kubeconfigs (off). */
  allowInsecureKubeconfigTls: boolean;
  /** Networks remote servers may / may not be in (CIDRs); link-local is always denied. */
  remoteAllowedNetworks: string[];
  remoteDeniedNetworks: string[];
  /** Largest answer a remote cluster may send to one request, and largest watch event. */
  maxResponseBytes: number;
  maxWatchEventBytes: number;
  /** Run the RemoteManifest controllers (the CRD must be installed). */
  remoteManifests: boolean;
  /** Deleting a RemoteManifest waits this long at most for a cluster that cannot be cleaned
   * (unreachable, not Ready); then what it applied there is left behind, with an Event. */
  remoteManifestDeleteTimeoutMs: number;
  /** RemoteManifests reconciled at once by the manage reconciler. */
  remoteManifestConcurrency: number;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

function list(env: NodeJS.ProcessEnv, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new Error(`${name} must be true or false, got "${env[name]}"`);
}

const LEVELS: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const podNamespace = env.POD_NAMESPACE || 'clusterregistry-system';
  const logLevel = (env.LOG_LEVEL || 'log') as LogLevel;
  if (!LEVELS.includes(logLevel)) throw new Error(`LOG_LEVEL must be one of ${LEVELS.join(', ')}`);
  const settings: Settings = {
    probePort: int(env, 'PROBE_PORT', 8081),
    metricsPort: int(env, 'METRICS_PORT', 8080),
    bindAddress: env.BIND_ADDRESS || '0.0.0.0',
    logLevel,
    podNamespace,
    secretNamespace: env.SECRET_NAMESPACE || podNamespace,
    leaderElection: bool(env, 'LEADER_ELECTION', true),
    leaseName: env.LEASE_NAME || 'clusterregistry-leader',
    leaseDurationMs: int(env, 'LEASE_DURATION_MS', 15_000),
    renewDeadlineMs: int(env, 'RENEW_DEADLINE_MS', 10_000),
    retryPeriodMs: int(env, 'RETRY_PERIOD_MS', 2_000),
    identity: env.POD_NAME || `${env.HOSTNAME ?? 'local'}-${process.pid}`,
    shards: int(env, 'SHARDS', 0),
    maxReplicas: int(env, 'MAX_REPLICAS', 10),
    shardLeasePrefix: env.SHARD_LEASE_PREFIX || 'clusterregistry',
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 20_000),
    clusterStopTimeoutMs: int(env, 'CLUSTER_STOP_TIMEOUT_MS', 10_000),
    maxConcurrentReconciles: int(env, 'MAX_CONCURRENT_RECONCILES', 64),
    maxConcurrentSpawns: Math.max(1, int(env, 'MAX_CONCURRENT_SPAWNS', 8)),
    probeIntervalMs: int(env, 'PROBE_INTERVAL_MS', 15_000),
    remoteClusterSelector: env.REMOTECLUSTER_SELECTOR || undefined,
    exampleReconcilers: bool(env, 'EXAMPLE_RECONCILERS', true),
    allowInsecureKubeconfigTls: bool(env, 'ALLOW_INSECURE_KUBECONFIG_TLS', false),
    remoteAllowedNetworks: list(env, 'REMOTE_ALLOWED_NETWORKS'),
    remoteDeniedNetworks: list(env, 'REMOTE_DENIED_NETWORKS'),
    maxResponseBytes: int(env, 'MAX_RESPONSE_BYTES', 32 * 1024 * 1024),
    maxWatchEventBytes: int(env, 'MAX_WATCH_EVENT_BYTES', 4 * 1024 * 1024),
    remoteManifests: bool(env, 'REMOTE_MANIFESTS', true),
    remoteManifestDeleteTimeoutMs: int(env, 'REMOTEMANIFEST_DELETE_TIMEOUT_MS', 60_000),
    remoteManifestConcurrency: Math.max(1, int(env, 'REMOTEMANIFEST_CONCURRENCY', 8)),
  };
  if (settings.renewDeadlineMs >= settings.leaseDurationMs) {
    throw new Error('RENEW_DEADLINE_MS must be shorter than LEASE_DURATION_MS');
  }
  if (!Number.isInteger(settings.shards)) throw new Error(`SHARDS must be an integer, got "${env.SHARDS}"`);
  if (settings.shards > 0 && settings.remoteManifests && !settings.leaderElection) {
    // Sharded, RemoteManifest conditions are summed up by one replica: the leader.
    throw new Error('SHARDS > 0 with REMOTE_MANIFESTS needs LEADER_ELECTION (the leader sums RemoteManifests up)');
  }
  if (settings.shards > 0 && (!Number.isInteger(settings.maxReplicas) || settings.maxReplicas < 1)) {
    throw new Error(`MAX_REPLICAS must be a positive integer, got "${env.MAX_REPLICAS}"`);
  }
  return settings;
}

export const SETTINGS = Symbol('SETTINGS');
