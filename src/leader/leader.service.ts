import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { ClusterClient } from '../client/cluster-client.js';
import { MANAGE_CLIENT } from '../cluster/tokens.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import { ManageRuntime } from '../manage/manage-runtime.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { LeaderElector } from './leader-elector.js';
import { LeaseLock } from './lease-lock.js';

/**
 * Only the leader runs the manage reconcilers (and through them, the registry's runtimes). A
 * lost lease stops them all; without leader election this replica leads from the start.
 */
@Injectable()
export class LeaderService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private elector?: LeaderElector;
  private leadingWithoutElection = false;

  constructor(
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    private readonly manageRuntime: ManageRuntime,
    private readonly registry: RemoteClusterRegistry,
  ) {}

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : this.leadingWithoutElection;
  }

  onApplicationBootstrap(): void {
    if (!this.settings.leaderElection) {
      this.leadingWithoutElection = true;
      this.manageRuntime.start();
      return;
    }
    const lock = new LeaseLock(this.manage, this.settings.podNamespace, this.settings.leaseName);
    this.elector = new LeaderElector(lock, this.settings, {
      onStartedLeading: () => this.manageRuntime.start(),
      onStoppedLeading: () => this.stopAll(),
    });
    this.elector.start();
  }

  private async stopAll(): Promise<void> {
    await this.manageRuntime.stop();
    await Promise.allSettled(this.registry.names().map((n) => this.registry.stop(n)));
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.elector) await this.elector.stop();
    else await this.stopAll();
  }
}
