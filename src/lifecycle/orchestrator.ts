import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { ClusterClient } from '../client/cluster-client.js';
import type { ClusterEventRecorder } from '../events/event-recorder.js';
import type { ManagerStatus } from '../manager/controller-manager.js';
import { ReconcilerExplorer } from '../reconcile/reconciler.explorer.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { ClusterRuntime } from '../runtime/cluster-runtime.js';
import type { Engine } from '../runtime/engine.js';
import { registryScheduler } from '../runtime/schedule.js';
import { ENGINE, EVENT_RECORDER, MANAGE_CLIENT, MANAGE_CLUSTER_NAME } from '../runtime/tokens.js';
import { RUN_GATE, type RunGate } from './run-gate.js';

/**
 * The one owner of "run while this replica may run". When the gate opens it starts the root
 * app's own reconcilers (manage reconcilers, which spawn remote runtimes through the registry);
 * when the gate closes or the app shuts down it stops them and then every remote runtime; last
 * of all it closes the manage client. Nothing else starts or stops runtimes wholesale.
 */
@Injectable()
export class Orchestrator implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Orchestrator');
  private manage?: ClusterRuntime;
  /** Activations and deactivations run one after the other, never interleaved. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    @Inject(RUN_GATE) private readonly gate: RunGate,
    @Inject(MANAGE_CLIENT) private readonly manageClient: ClusterClient,
    @Inject(ENGINE) private readonly engine: Engine,
    private readonly registry: RemoteClusterRegistry,
    private readonly explorer: ReconcilerExplorer,
    private readonly schedulerRegistry: SchedulerRegistry,
    @Inject(EVENT_RECORDER) private readonly events: ClusterEventRecorder,
  ) {}

  /** True while this replica may run (it leads, or there is no election). */
  get active(): boolean {
    return this.gate.active;
  }

  /** The manage reconcilers' runtime while active. */
  get manageRuntime(): ClusterRuntime | undefined {
    return this.manage;
  }

  manageStatus(): ManagerStatus | undefined {
    return this.manage?.status();
  }

  onApplicationBootstrap(): void {
    this.gate.start({ activate: () => this.activate(), deactivate: () => this.deactivate() });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.gate.stop();
    await this.deactivate();
  }

  /** After every runtime is gone: the manage cluster's events still queued are written (within
   * 2 s), then only the root closes the shared manage client. */
  async onApplicationShutdown(): Promise<void> {
    await this.events.close(2_000);
    await this.manageClient.close();
  }

  private activate(): Promise<void> {
    return this.serially(() => {
      if (this.manage) return;
      this.manage = new ClusterRuntime({
        name: MANAGE_CLUSTER_NAME,
        client: this.manageClient,
        engine: this.engine,
        scheduler: registryScheduler(this.schedulerRegistry, `clusterregistry/${MANAGE_CLUSTER_NAME}/`),
        ownsClient: false,
        events: this.events,
      });
      this.manage.start(this.explorer.explore());
      this.logger.log('running the manage reconcilers');
    });
  }

  private deactivate(): Promise<void> {
    return this.serially(async () => {
      const manage = this.manage;
      this.manage = undefined;
      // Manage reconcilers first, so none spawns a runtime while the rest are stopped.
      await manage?.stop();
      await this.registry.stopAll();
      if (manage) this.logger.log('stopped the manage reconcilers and every cluster runtime');
    });
  }

  private serially(step: () => Promise<void> | void): Promise<void> {
    const next = this.queue.then(step);
    this.queue = next.catch((err: unknown) => this.logger.error(`lifecycle step failed: ${(err as Error).message}`));
    return next;
  }
}
