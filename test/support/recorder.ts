import { Inject } from '@nestjs/common';
import { CLUSTER_NAME } from '../../src/runtime/tokens.js';
import { Reconciler } from '../../src/reconcile/reconciler.decorator.js';
import type {
  Reconcile,
  ReconcileContext,
  ReconcileRequest,
  ReconcileResult,
  ReconcilerOptions,
} from '../../src/reconcile/types.js';

export interface Seen {
  request: ReconcileRequest;
  exists: boolean;
  instance: object;
  injectedCluster: string;
  /** ctx.attempt: the key's failures so far, as the engine counted them. */
  attempt: number;
  at: number;
}

/** Shared by every context of a test: what reconcilers saw. Plain object, no lifecycle hooks. */
export class Recorder {
  readonly seen: Seen[] = [];

  constructor(readonly namespace: string) {}

  /** Optional behaviour per object name: throw, hang or requeue. */
  behaviour = new Map<string, (ctx: ReconcileContext) => Promise<ReconcileResult> | ReconcileResult>();

  find(cluster: string, name: string, exists?: boolean): Seen | undefined {
    return this.seen.find(
      (s) => s.request.cluster === cluster && s.request.name === name && (exists === undefined || s.exists === exists),
    );
  }

  count(cluster: string, name?: string): number {
    return this.seen.filter((s) => s.request.cluster === cluster && (name === undefined || s.request.name === name))
      .length;
  }
}

export const RECORDER = Symbol('RECORDER');

/** Records every reconcile of labelled pods in the recorder's namespace (one per test file, so
 * runs against long-lived clusters do not see each other's pods). */
@Reconciler({
  apiVersion: 'v1',
  kind: 'Pod',
  labelSelector: 'clusterregistry-test=yes',
  concurrency: 2,
  timeoutMs: 2_000,
  // A resync shows up as a named interval of the cluster's context.
  resyncMs: 600_000,
})
export class PodRecorder implements Reconcile {
  constructor(
    @Inject(RECORDER) private readonly recorder: Recorder,
    @Inject(CLUSTER_NAME) private readonly cluster: string,
  ) {}

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return { namespace: this.recorder.namespace };
  }

  async reconcile(request: ReconcileRequest, ctx: ReconcileContext): Promise<ReconcileResult> {
    this.recorder.seen.push({
      request,
      exists: ctx.cache.get(request.namespace, request.name) !== undefined,
      instance: this,
      injectedCluster: this.cluster,
      attempt: ctx.attempt,
      at: Date.now(),
    });
    const behaviour = this.recorder.behaviour.get(request.name);
    return behaviour ? behaviour(ctx) : undefined;
  }
}

export function testPod(name: string, extraLabels: Record<string, string> = {}) {
  return {
    metadata: { name, labels: { 'clusterregistry-test': 'yes', ...extraLabels } },
    spec: { containers: [{ name: 'main', image: 'registry.invalid/none:1' }] },
  };
}
