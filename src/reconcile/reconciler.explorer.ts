import { Injectable } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { Reconciler } from './reconciler.decorator.js';
import type { Reconcile, ReconcilerOptions } from './types.js';

export interface DiscoveredReconciler {
  instance: Reconcile;
  options: ReconcilerOptions & { name: string };
}

/**
 * Finds @Reconciler providers of the context it runs in. It reads the context's modules itself,
 * as DiscoveryService does, rather than importing DiscoveryModule: every cluster context would
 * scan and instantiate that module again (a fifth of the context's cost in a 100-context test).
 */
@Injectable()
export class ReconcilerExplorer {
  constructor(private readonly modules: ModulesContainer) {}

  explore(): DiscoveredReconciler[] {
    const found: DiscoveredReconciler[] = [];
    // Every provider, not the decorator's index: that index misses factory providers (the
    // library's own RemoteCluster controller is one, null when switched off).
    for (const module of this.modules.values()) {
      for (const wrapper of module.providers.values()) {
        const discovered = this.discovered(wrapper);
        if (discovered) found.push(discovered);
      }
    }
    const names = found.map((r) => r.options.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new Error(`two reconcilers are named ${duplicate}: give one a distinct name option`);
    return found;
  }

  private discovered(wrapper: InstanceWrapper): DiscoveredReconciler | undefined {
    const instance = wrapper.instance as Partial<Reconcile> | null | undefined;
    if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) return undefined;
    const options = Reflect.getMetadata(Reconciler.KEY, instance.constructor) as ReconcilerOptions | undefined;
    if (!options) return undefined;
    if (typeof instance.reconcile !== 'function') {
      throw new Error(`@Reconciler class ${String(wrapper.name)} has no reconcile(request, context) method`);
    }
    // Options that depend on injected settings come from the instance (see Reconcile.reconcilerOptions).
    const dynamic = (instance as Reconcile).reconcilerOptions?.() ?? {};
    const merged = { ...options, ...dynamic };
    return { instance: instance as Reconcile, options: { ...merged, name: merged.name ?? instance.constructor.name } };
  }
}
