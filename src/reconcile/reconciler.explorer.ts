import { Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { Reconciler } from './reconciler.decorator.js';
import type { Reconcile, ReconcilerOptions } from './types.js';

export interface DiscoveredReconciler {
  instance: Reconcile;
  options: ReconcilerOptions & { name: string };
}

/** Finds @Reconciler providers of the context it runs in (discovery is scoped to its context). */
@Injectable()
export class ReconcilerExplorer {
  constructor(private readonly discovery: DiscoveryService) {}

  explore(): DiscoveredReconciler[] {
    const found: DiscoveredReconciler[] = [];
    // Every provider, not the decorator's index: that index misses factory providers (the
    // library's own RemoteCluster controller is one, null when switched off).
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Partial<Reconcile> | null | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const options = this.discovery.getMetadataByDecorator(Reconciler.discoverable, wrapper);
      if (!options) continue;
      if (typeof instance.reconcile !== 'function') {
        throw new Error(`@Reconciler class ${String(wrapper.name)} has no reconcile(request, context) method`);
      }
      // Options that depend on injected settings come from the instance (see Reconcile.reconcilerOptions).
      const dynamic = (instance as Reconcile).reconcilerOptions?.() ?? {};
      const merged = { ...options, ...dynamic };
      found.push({
        instance: instance as Reconcile,
        options: { ...merged, name: merged.name ?? instance.constructor.name },
      });
    }
    const names = found.map((r) => r.options.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new Error(`two reconcilers are named ${duplicate}: give one a distinct name option`);
    return found;
  }
}
