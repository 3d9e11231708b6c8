import { applyDecorators, Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { ReconcilerOptions } from './types.js';

const Discoverable = DiscoveryService.createDecorator<ReconcilerOptions>();

/**
 * Marks a provider as a reconciler of the given kind. Providers of a cluster context (remote
 * reconcilers) or of the root app (manage reconcilers) carrying it are found by discovery; there
 * is nothing to register by hand.
 *
 *   @Reconciler({ apiVersion: 'v1', kind: 'Pod', concurrency: 4 })
 *   export class PodReconciler implements Reconcile { … }
 */
export function Reconciler(options: ReconcilerOptions): ClassDecorator {
  return applyDecorators(Injectable(), Discoverable(options));
}
Reconciler.KEY = Discoverable.KEY;
Reconciler.discoverable = Discoverable;
