/** How RemoteClusters are spread over the replicas (the module's `sharding` options). */
export interface ShardingOptions {
  /** Namespace of the member and shard Leases (the app's own). */
  namespace: string;
  /** Shards the clusters are hashed onto (default 32). Every replica must use the same count: a
   * replica never takes a shard while a live member announces another count. */
  shards?: number;
  /** This replica in the Leases and in `status.owner` (its pod name); default host name and pid. */
  identity?: string;
  /** As client-go's leader election, for every member and shard Lease: 15 s, 10 s, 2 s. A replica
   * stops a shard's clusters when it could not renew its Lease for renewDeadlineMs (measured on
   * its own clock from when the last successful renewal was sent); another takes it only after
   * leaseDurationMs without a change, measured on its own clock. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Leases are named `<prefix>-member-<slot>` and `<prefix>-shard-<n>` (default clusterregistry). */
  leasePrefix?: string;
  /** Member slots, i.e. replicas at most, surge included (default 10): the names RBAC lists. */
  maxReplicas?: number;
}

export type ResolvedShardingOptions = Required<ShardingOptions>;

export function resolveShardingOptions(options: ShardingOptions): ResolvedShardingOptions {
  const resolved: ResolvedShardingOptions = {
    namespace: options.namespace,
    shards: options.shards ?? 32,
    identity: options.identity ?? `${process.env.HOSTNAME ?? 'local'}-${process.pid}`,
    leaseDurationMs: options.leaseDurationMs ?? 15_000,
    renewDeadlineMs: options.renewDeadlineMs ?? 10_000,
    retryPeriodMs: options.retryPeriodMs ?? 2_000,
    leasePrefix: options.leasePrefix ?? 'clusterregistry',
    maxReplicas: options.maxReplicas ?? 10,
  };
  const { shards, maxReplicas, leaseDurationMs, renewDeadlineMs, retryPeriodMs } = resolved;
  if (!Number.isInteger(shards) || shards < 1)
    throw new Error(`sharding: shards must be a positive integer, got ${shards}`);
  if (!Number.isInteger(maxReplicas) || maxReplicas < 1) {
    throw new Error(`sharding: maxReplicas must be a positive integer, got ${maxReplicas}`);
  }
  if (renewDeadlineMs >= leaseDurationMs) {
    throw new Error('sharding: the renew deadline must be shorter than the lease duration');
  }
  if (retryPeriodMs >= renewDeadlineMs)
    throw new Error('sharding: the retry period must be shorter than the renew deadline');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(resolved.leasePrefix) || resolved.leasePrefix.length > 200) {
    throw new Error(
      `sharding: leasePrefix must be a DNS label of at most 200 characters, got "${resolved.leasePrefix}"`,
    );
  }
  return resolved;
}

/** The names of every Lease sharding uses: what the app's RBAC lists. */
export function shardingLeaseNames(options: Pick<ResolvedShardingOptions, 'leasePrefix' | 'shards' | 'maxReplicas'>): {
  members: string[];
  shards: string[];
} {
  return {
    members: Array.from({ length: options.maxReplicas }, (_, i) => `${options.leasePrefix}-member-${i}`),
    shards: Array.from({ length: options.shards }, (_, i) => `${options.leasePrefix}-shard-${i}`),
  };
}

/** Per-replica metrics of sharding (PrometheusMetrics implements it). */
export interface ShardMetrics {
  /** Shards this replica runs now, and the live members it sees. */
  shards(replica: string, held: number, members: number): void;
  /** A shard acquired, released on purpose (a handover, a shutdown), or lost (not renewed in time). */
  handover(replica: string, event: 'acquired' | 'released' | 'lost'): void;
  /** One write of a Lease (create or update). */
  leaseWrite(replica: string, kind: 'member' | 'shard'): void;
}

export const NO_SHARD_METRICS: ShardMetrics = {
  shards: () => undefined,
  handover: () => undefined,
  leaseWrite: () => undefined,
};
