import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ClusterClient } from '../client/cluster-client.js';
import { ReconcilerExplorer } from '../reconcile/reconciler.explorer.js';
import { ClusterRuntime } from './cluster-runtime.js';
import {
  REMOTE_CLUSTER_OPTIONS,
  RemoteClusterModuleBase,
  type RemoteClusterModuleOptions,
} from './remote-cluster.module-definition.js';
import { CLUSTER_CLIENT, CLUSTER_NAME, MANAGE_CLIENT } from './tokens.js';

/**
 * The module of one remote cluster, started by the registry in its own application context.
 * It holds the cluster's reconcilers and nothing else: no HTTP server, no health endpoints, no
 * metrics listener, no leader election. CLUSTER_NAME, CLUSTER_CLIENT and MANAGE_CLIENT are
 * global inside the context, so reconcilers in imported modules can inject them too.
 */
@Module({})
export class RemoteClusterModule extends RemoteClusterModuleBase {
  static override forCluster(options: RemoteClusterModuleOptions): DynamicModule {
    const base = super.forCluster(options);
    return {
      ...base,
      global: true,
      imports: [...(base.imports ?? []), DiscoveryModule, ...(options.imports ?? [])],
      providers: [
        ...(base.providers ?? []),
        { provide: CLUSTER_NAME, useValue: options.name },
        {
          provide: CLUSTER_CLIENT,
          // Made here, so a broken kubeconfig fails this context's start with a clear error.
          useFactory: (opts: RemoteClusterModuleOptions) =>
            new ClusterClient({ name: opts.name, kubeConfig: opts.kubeConfig }),
          inject: [REMOTE_CLUSTER_OPTIONS],
        },
        { provide: MANAGE_CLIENT, useValue: options.shared.manageClient },
        ReconcilerExplorer,
        ClusterRuntime,
        ...(options.reconcilers ?? []),
        ...(options.providers ?? []),
      ],
      exports: [CLUSTER_NAME, CLUSTER_CLIENT, MANAGE_CLIENT],
    };
  }
}
