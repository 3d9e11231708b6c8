import {
  Module,
  type DynamicModule,
  type ModuleMetadata,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type Provider,
  type Type,
} from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { ClusterClient } from '../client/cluster-client.js';
import { ClusterEventRecorder } from '../events/event-recorder.js';
import { ReconcilerExplorer } from '../reconcile/reconciler.explorer.js';
import { ClusterRuntime } from './cluster-runtime.js';
import type { Engine } from './engine.js';
import { registryScheduler } from './schedule.js';
import { CLUSTER_CLIENT, CLUSTER_NAME, ENGINE, EVENT_RECORDER, MANAGE_CLIENT } from './tokens.js';

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
  /** Hears of the runtime as soon as it exists, before the context is up: whoever creates the
   * context can then stop it when the creation fails or is abandoned (the context is lost). */
  onRuntime?: (runtime: ClusterRuntime) => void;
}

/** How long a stopping cluster's recorder may take to write the events still queued. */
const EVENT_FLUSH_MS = 1_000;

/** Starts the context's reconcilers once the context is up; its destroy stops everything. */
export class ClusterRuntimeHost implements OnApplicationBootstrap, OnModuleDestroy {
  readonly runtime: ClusterRuntime;

  constructor(
    options: RemoteClusterModuleOptions,
    private readonly explorer: ReconcilerExplorer,
    schedulerRegistry: SchedulerRegistry,
    private readonly events: ClusterEventRecorder,
  ) {
    this.runtime = new ClusterRuntime({
      name: options.name,
      client: options.client,
      engine: options.engine,
      scheduler: registryScheduler(schedulerRegistry, `clusterregistry/${options.name}/`),
      ownsClient: true,
      events,
    });
    options.onRuntime?.(this.runtime);
  }

  onApplicationBootstrap(): void {
    this.runtime.start(this.explorer.explore());
  }

  async onModuleDestroy(): Promise<void> {
    // Events still queued go out while the client is open (bounded: the cluster may be down).
    await this.events.close(EVENT_FLUSH_MS);
    await this.runtime.stop();
  }
}

/**
 * The module of one remote cluster, started by the registry in its own application context. It
 * holds the cluster's reconcilers and nothing else: no HTTP server, no health endpoints, no
 * metrics listener, no leader election. CLUSTER_NAME, CLUSTER_CLIENT, MANAGE_CLIENT and
 * EVENT_RECORDER (events about this cluster's objects, written to it) are global inside the context, so reconcilers in imported modules can inject them too. Its
 * SchedulerRegistry (@nestjs/schedule) lists the cluster's periodic work by name.
 */
@Module({})
export class RemoteClusterModule {
  static forCluster(options: RemoteClusterModuleOptions): DynamicModule {
    // Events about this cluster's objects go to this cluster.
    const events = new ClusterEventRecorder({
      cluster: options.name,
      client: options.client,
      metrics: options.engine.metrics.events?.(options.name),
      ...options.engine.events,
    });
    const scheduler = new SchedulerRegistry();
    // The module holds one cluster's client, recorder and scheduler: a second context made from it
    // would run a second runtime that closes the same client.
    let hosted = false;
    // Values and factories, no class providers: NestJS reflects a class provider's constructor
    // and scans every method of it in each context, about a sixth of a context's cost here.
    return {
      module: RemoteClusterModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        { provide: CLUSTER_NAME, useValue: options.name },
        { provide: CLUSTER_CLIENT, useValue: options.client },
        { provide: MANAGE_CLIENT, useValue: options.manageClient },
        { provide: ENGINE, useValue: options.engine },
        { provide: EVENT_RECORDER, useValue: events },
        { provide: SchedulerRegistry, useValue: scheduler },
        {
          provide: ReconcilerExplorer,
          useFactory: (modules: ModulesContainer) => new ReconcilerExplorer(modules),
          inject: [ModulesContainer],
        },
        {
          // Through the explorer, as when both were classes: NestJS orders a module's hooks by
          // depth of dependencies, so the host still starts after, and stops before, the
          // providers that depend on no more than the context's own tokens.
          provide: ClusterRuntimeHost,
          useFactory: (explorer: ReconcilerExplorer) => {
            if (hosted) {
              throw new Error(
                `RemoteClusterModule.forCluster() of ${options.name} was already used for a context: call it again for another`,
              );
            }
            hosted = true;
            return new ClusterRuntimeHost(options, explorer, scheduler, events);
          },
          inject: [ReconcilerExplorer],
        },
        ...(options.reconcilers ?? []),
        ...(options.providers ?? []),
      ],
      exports: [CLUSTER_NAME, CLUSTER_CLIENT, MANAGE_CLIENT, EVENT_RECORDER, SchedulerRegistry],
    };
  }
}
