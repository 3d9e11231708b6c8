/** How the RemoteCluster controller runs (the module's `remoteClusters` options). */
export interface RemoteClusterControllerOptions {
  /** The only namespace whose Secrets may hold kubeconfigs (so RBAC never needs Secrets cluster-wide). */
  secretNamespace: string;
  /** Only RemoteClusters with these labels (a static split of a fleet). */
  selector?: string;
  /** Stopping one runtime, at most (default 10 s): a dead cluster never holds a deletion. */
  stopTimeoutMs?: number;
  /** Starting one runtime's context, at most (default 30 s). */
  spawnTimeoutMs?: number;
}

export const REMOTE_CLUSTER_CONTROLLER_OPTIONS = Symbol('REMOTE_CLUSTER_CONTROLLER_OPTIONS');
