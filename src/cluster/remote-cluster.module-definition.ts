import { ConfigurableModuleBuilder, type ModuleMetadata, type Provider, type Type } from '@nestjs/common';
import type { KubeConfig } from '@kubernetes/client-node';
import type { SharedRuntime } from './shared-runtime.js';

export interface RemoteClusterModuleOptions {
  /** The remote cluster's name: unique in the registry, the `cluster` of every request. */
  name: string;
  kubeConfig: KubeConfig;
  shared: SharedRuntime;
  /** Reconciler classes (decorated with @Reconciler) to run against this cluster. */
  reconcilers?: Type[];
  /** Further modules and providers the reconcilers depend on. */
  imports?: ModuleMetadata['imports'];
  providers?: Provider[];
}

export const { ConfigurableModuleClass: RemoteClusterModuleBase, MODULE_OPTIONS_TOKEN: REMOTE_CLUSTER_OPTIONS } =
  new ConfigurableModuleBuilder<RemoteClusterModuleOptions>().setClassMethodName('forCluster').build();
