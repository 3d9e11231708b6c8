import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { ClusterClient } from '../client/cluster-client.js';
import { ControllerManager, type ManagerStatus } from '../manager/controller-manager.js';
import { ReconcilerExplorer } from '../reconcile/reconciler.explorer.js';
import { REMOTE_CLUSTER_OPTIONS, type RemoteClusterModuleOptions } from './remote-cluster.module-definition.js';
import { CLUSTER_CLIENT } from './tokens.js';

/** Lives in one cluster context: starts that context's reconcilers once the context is up, and
 * on destroy aborts every watch, reconcile and request of the cluster. */
@Injectable()
export class ClusterRuntime implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly manager: ControllerManager;

  constructor(
    @Inject(REMOTE_CLUSTER_OPTIONS) private readonly options: RemoteClusterModuleOptions,
    @Inject(CLUSTER_CLIENT) readonly client: ClusterClient,
    private readonly explorer: ReconcilerExplorer,
  ) {
    const { limiter, metrics, informerOptions } = options.shared;
    this.manager = new ControllerManager({ cluster: options.name, client, limiter, metrics, informerOptions });
  }

  get name(): string {
    return this.options.name;
  }

  onApplicationBootstrap(): void {
    for (const reconciler of this.explorer.explore()) this.manager.add(reconciler);
    this.manager.start();
  }

  status(): ManagerStatus {
    return this.manager.status();
  }

  waitForSync(signal: AbortSignal): Promise<void> {
    return this.manager.waitForSync(signal);
  }

  async onModuleDestroy(): Promise<void> {
    // Closing the client first aborts every request and watch at once; then the workers get
    // their grace period to return.
    const closing = this.client.close();
    await this.manager.stop(this.options.shared.stopGraceMs);
    await closing;
  }
}
