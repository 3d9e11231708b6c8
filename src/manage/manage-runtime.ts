import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { ClusterClient } from '../client/cluster-client.js';
import { MANAGE_CLIENT } from '../cluster/tokens.js';
import type { SharedRuntime } from '../cluster/shared-runtime.js';
import type { ObjectStore } from '../cache/store.js';
import { ControllerManager, type ManagerStatus } from '../manager/controller-manager.js';
import { ReconcilerExplorer } from '../reconcile/reconciler.explorer.js';
import { SHARED_RUNTIME } from '../registry/remote-cluster.registry.js';

export const MANAGE_CLUSTER_NAME = 'manage';

/** Runs the root app's own reconcilers (manage reconcilers) against the manage cluster. Started
 * by whoever decides this replica should act (the leader elector, or the app at bootstrap). */
@Injectable()
export class ManageRuntime implements BeforeApplicationShutdown {
  private manager?: ControllerManager;

  constructor(
    @Inject(MANAGE_CLIENT) private readonly client: ClusterClient,
    @Inject(SHARED_RUNTIME) private readonly shared: SharedRuntime,
    private readonly explorer: ReconcilerExplorer,
  ) {}

  get running(): boolean {
    return this.manager !== undefined;
  }

  start(): void {
    if (this.manager) return;
    const { limiter, metrics, informerOptions } = this.shared;
    this.manager = new ControllerManager({
      cluster: MANAGE_CLUSTER_NAME,
      client: this.client,
      limiter,
      metrics,
      informerOptions,
    });
    for (const reconciler of this.explorer.explore()) this.manager.add(reconciler);
    this.manager.start();
  }

  cache(apiVersion: string, kind: string): ObjectStore | undefined {
    return this.manager?.cache(apiVersion, kind);
  }

  status(): ManagerStatus | undefined {
    return this.manager?.status();
  }

  async waitForSync(signal: AbortSignal): Promise<void> {
    await this.manager?.waitForSync(signal);
  }

  async stop(): Promise<void> {
    const manager = this.manager;
    this.manager = undefined;
    await manager?.stop(this.shared.stopGraceMs);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }
}
