import type { ModuleMetadata, Provider, Type } from '@nestjs/common';
import type { ConnectionPolicy } from '../client/connection.js';

/** What every remote cluster context holds besides the runtime: the remote reconcilers and what
 * they depend on, gathered from the root options and every feature module. */
export interface RemoteClusterContents {
  reconcilers: Type[];
  imports: NonNullable<ModuleMetadata['imports']>;
  providers: Provider[];
}

/** How every remote cluster is reached: what its kubeconfig may ask for, and what an endpoint
 * may send (the operator's settings; kubeconfigs and endpoints are untrusted). */
export interface RemoteConnections extends ConnectionPolicy {
  maxResponseBytes?: number;
  maxWatchEventBytes?: number;
  requestTimeoutMs?: number;
}

export interface RegistryOptions {
  /** Read at each spawn: feature modules are found at bootstrap, after the registry is made. */
  contents(): RemoteClusterContents;
  connections: RemoteConnections;
  /** With sharding or leader election: whether this replica may run a cluster now (holds its
   * shard's Lease, or leads). spawn() refuses any other name, at the moment its entry is made, so
   * a runtime never starts after the Lease went (the runtimes that started before are stopped by
   * the orchestrator, then the Lease is released). */
  admits?: (name: string) => boolean;
  /** Why admits() refused, for the error: e.g. "another replica holds its shard". */
  refusal?: string;
  /** Cluster contexts built at once (default 8); further spawns wait their turn in order. */
  maxConcurrentSpawns?: number;
  /** How long one spawn may hold its turn before it goes back (default 5 s; tests shorten it). */
  spawnTurnMs?: number;
}

export const REGISTRY_OPTIONS = Symbol('REGISTRY_OPTIONS');
