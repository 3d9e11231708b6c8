import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ClusterRegistryOptions } from './options.js';

export const {
  ConfigurableModuleClass: ClusterRegistryModuleBase,
  MODULE_OPTIONS_TOKEN: CLUSTER_REGISTRY_OPTIONS,
  OPTIONS_TYPE: CLUSTER_REGISTRY_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: CLUSTER_REGISTRY_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ClusterRegistryOptions>()
  .setClassMethodName('forRoot')
  // Global by default: the registry and MANAGE_CLIENT are for every module of the app.
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
