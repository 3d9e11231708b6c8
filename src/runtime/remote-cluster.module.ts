import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type ModuleMetadata,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type Provider,
  type Type,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { ClusterClient } from '../client/cluster-client.js';
import { ReconcilerExplorer } from '../reconcile/reconciler.explorer.js';
import { ClusterRuntime } from './cluster-runtime.js';
import type { Engine } from './engine.js';
import { registryScheduler } from './schedule.js';
import { CLUSTER_CLIENT, CLUSTER_NAME, ENGINE, MANAGE_CLIENT } from './tokens.js';

export interface RemoteClusterModuleOptions {
  /** The remote cluster's name: unique in the registry, the `cluster` of every request. */
  name: string;
  /** This cluster's client; the runtime owns it and closes it on stop. */
  client: ClusterClient;
  engine: Engine;
  manageClient: ClusterClient;
  /** Reconciler classes (decorated with @Reconciler) to run against this cluster. */
  reconcilers?: Type[];
  /** Further modules and providers the reconcilers depend on (values the root shares, too). */
  imports?: ModuleMetadata['imports'];
  providers?: Provider[];
}

const OPTIONS = Symbol('REMOTE_CLUSTER_OPTIONS');

/** Starts the context's reconcilers once the context is up; its destroy stops everything. */
@Injectable()
export class ClusterRuntimeHost implements OnApplicationBootstrap, OnModuleDestroy {
  readonly runtime: ClusterRuntime;

  constructor(
    @Inject(OPTIONS) options: RemoteClusterModuleOptions,
    private readonly explorer: ReconcilerExplorer,
    schedulerRegistry: SchedulerRegistry,
  ) {
    this.runtime = new ClusterRuntime({
      name: options.name,
      client: options.client,
      engine: options.engine,
      scheduler: registryScheduler(schedulerRegistry, `clusterregistry/${options.name}/`),
      ownsClient: true,
    });
  }

  onApplicationBootstrap(): void {
    this.runtime.start(this.explorer.explore());
  }

  async onModuleDestroy(): Promise<void> {
    await this.runtime.stop();
  }
}

/**
 * The module of one remote cluster, started by the registry in its own application context. It
 * holds the cluster's reconcilers and nothing else: no HTTP server, no health endpoints, no
 * metrics listener, no leader election. CLUSTER_NAME, CLUSTER_CLIENT and MANAGE_CLIENT are
 * global inside the context, so reconcilers in imported modules can inject them too. Its
 * SchedulerRegistry (@nestjs/schedule) lists the cluster's periodic work by name.
 */
@Module({})
export class RemoteClusterModule {
  static forCluster(options: RemoteClusterModuleOptions): DynamicModule {
    return {
      module: RemoteClusterModule,
      global: true,
      imports: [DiscoveryModule, ...(options.imports ?? [])],
      providers: [
        { provide: OPTIONS, useValue: options },
        { provide: CLUSTER_NAME, useValue: options.name },
        { provide: CLUSTER_CLIENT, useValue: options.client },
        { provide: MANAGE_CLIENT, useValue: options.manageClient },
        { provide: ENGINE, useValue: options.engine },
        SchedulerRegistry,
        ReconcilerExplorer,
        ClusterRuntimeHost,
        ...(options.reconcilers ?? []),
        ...(options.providers ?? []),
      ],
      exports: [CLUSTER_NAME, CLUSTER_CLIENT, MANAGE_CLIENT, SchedulerRegistry],
    };
  }
}
