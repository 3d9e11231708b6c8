import { Inject, Injectable, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import type { RemoteClusterContents } from '../registry/registry-options.js';
import { CLUSTER_REGISTRY_OPTIONS } from './cluster-registry.module-definition.js';
import type { ClusterRegistryOptions, RemoteClusterFeature } from './options.js';

/** What one forFeature() call adds to every cluster context; found in the root by discovery. */
export class RemoteFeature {
  constructor(readonly feature: RemoteClusterFeature) {}
}

/** The module forFeature() returns: it only carries a RemoteFeature. The reconcilers are not
 * providers of the root app (they need CLUSTER_NAME, CLUSTER_CLIENT of a cluster context). */
@Module({})
export class ClusterRegistryFeatureModule {}

let features = 0;

export function featureModule(feature: RemoteClusterFeature): DynamicModule {
  // A distinct token per call, so two feature modules never collapse into one.
  const token = Symbol(`clusterregistry remote feature ${++features}`);
  return {
    module: ClusterRegistryFeatureModule,
    providers: [{ provide: token, useValue: new RemoteFeature(feature) }],
  };
}

const HOOKS = new Set<PropertyKey>([
  'onModuleInit',
  'onApplicationBootstrap',
  'onModuleDestroy',
  'beforeApplicationShutdown',
  'onApplicationShutdown',
]);

/**
 * The root's instance as every cluster context sees it: the same object, minus its lifecycle
 * hooks. A value provider receives the hooks of every context it is in, so without this a shared
 * service would be destroyed with the first cluster that stops.
 */
export function shielded<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  return new Proxy(value, {
    get(target, property) {
      if (HOOKS.has(property)) return undefined;
      const member: unknown = Reflect.get(target, property, target);
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
    },
  });
}

/** Gathers the root's `remote` options, every forFeature() and the shared root providers. */
@Injectable()
export class RemoteFeatureExplorer {
  private gathered?: RemoteClusterContents;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly moduleRef: ModuleRef,
    @Inject(CLUSTER_REGISTRY_OPTIONS) private readonly options: ClusterRegistryOptions,
  ) {}

  contents(): RemoteClusterContents {
    if (this.gathered) return this.gathered;
    const all: RemoteClusterFeature[] = [this.options.remote ?? {}];
    for (const wrapper of this.discovery.getProviders()) {
      if (wrapper.instance instanceof RemoteFeature) all.push(wrapper.instance.feature);
    }
    const shared: Provider[] = (this.options.remote?.share ?? []).map((token) => ({
      provide: token,
      useValue: shielded(this.moduleRef.get<unknown>(token, { strict: false })),
    }));
    this.gathered = {
      reconcilers: all.flatMap((f) => f.reconcilers ?? []),
      imports: all.flatMap((f) => f.imports ?? []),
      providers: [...all.flatMap((f) => f.providers ?? []), ...shared],
    };
    return this.gathered;
  }
}
