/** Base of the registry's errors; every one names the cluster. */
export class RegistryError extends Error {
  constructor(
    readonly cluster: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ClusterAlreadyRunningError extends RegistryError {
  constructor(cluster: string) {
    super(cluster, `cluster ${cluster} is already running`);
  }
}

export class ClusterNotRunningError extends RegistryError {
  constructor(
    cluster: string,
    readonly phase: 'absent' | 'stopping' = 'absent',
  ) {
    super(cluster, phase === 'stopping' ? `cluster ${cluster} is stopping` : `cluster ${cluster} is not running`);
  }
}

export class ClusterSpawnError extends RegistryError {
  constructor(cluster: string, cause: unknown) {
    super(cluster, `cluster ${cluster} failed to start: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

export class ClusterSyncTimeoutError extends RegistryError {
  constructor(cluster: string, timeoutMs: number, cause?: string) {
    super(cluster, `cluster ${cluster} not synced after ${timeoutMs} ms${cause ? `: ${cause}` : ''}`);
  }
}

/** The name belongs to the runtime of the manage cluster. */
export class ClusterNameReservedError extends RegistryError {
  constructor(cluster: string) {
    super(cluster, `cluster name "${cluster}" is reserved for the manage cluster's own runtime`);
  }
}

/** This replica may not run the cluster now: it does not hold its shard's Lease, or is not the leader. */
export class ClusterNotOwnedError extends RegistryError {
  constructor(cluster: string, why = 'another replica holds its shard') {
    super(cluster, `cluster ${cluster} is not owned by this replica (${why})`);
  }
}
