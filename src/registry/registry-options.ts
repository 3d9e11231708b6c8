import type { ModuleMetadata, Provider, Type } from '@nestjs/common';
import type { InformerOptions } from '../cache/informer.js';

/** How every remote cluster runtime is built (the root module's `remote` options). */
export interface RemoteRuntimeOptions {
  reconcilers?: Type[];
  imports?: ModuleMetadata['imports'];
  providers?: Provider[];
  informer?: InformerOptions;
  /** Grace for reconciles to return after a stop aborted them (default 5 s). */
  stopGraceMs?: number;
}

export const REGISTRY_OPTIONS = Symbol('REGISTRY_OPTIONS');
