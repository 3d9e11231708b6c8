import type { ModuleMetadata, Provider, Type } from '@nestjs/common';

/** What every remote cluster context holds besides the runtime: the remote reconcilers and what
 * they depend on, gathered from the root options and every feature module. */
export interface RemoteClusterContents {
  reconcilers: Type[];
  imports: NonNullable<ModuleMetadata['imports']>;
  providers: Provider[];
}

export interface RegistryOptions {
  /** Read at each spawn: feature modules are found at bootstrap, after the registry is made. */
  contents(): RemoteClusterContents;
}

export const REGISTRY_OPTIONS = Symbol('REGISTRY_OPTIONS');
