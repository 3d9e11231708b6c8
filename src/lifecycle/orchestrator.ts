import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure } from '../client/errors.js';
import type { ClusterEventRecorder } from '../events/event-recorder.js';
import type { ManagerStatus } from '../manager/controller-manager.js';
import { ReconcilerExplorer, type DiscoveredReconciler } from '../reconcile/reconciler.explorer.js';
import { ClusterNotRunningError } from '../registry/errors.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { ClusterRuntime } from '../runtime/cluster-runtime.js';
import type { Engine } from '../runtime/engine.js';
import { registryScheduler } from '../runtime/schedule.js';
import { ENGINE, EVENT_RECORDER, MANAGE_CLIENT, MANAGE_CLUSTER_NAME, MANAGE_LEADER_NAME } from '../runtime/tokens.js';
import { RUN_GATE, SINGLETON_GATE, type OwnershipChange, type RunGate } from './run-gate.js';

/** Beyond the runtimes' stop grace, what stopping every runtime may take at shutdown. */
const CLOSE_MARGIN_MS = 5_000;

/**
 * The one owner of "run while this replica may run". When the gate opens it starts the root
 * app's own reconcilers (manage reconcilers, which spawn remote runtimes through the registry);
 * when the gate closes or the app shuts down it stops them and then every remote runtime; last
 * of all it closes the manage client. Nothing else starts or stops runtimes wholesale.
 *
 * With sharding the gate is the shard coordinator: every replica runs the manage reconcilers
 * (they run only the clusters this replica owns, see owns()), the orchestrator stops the
 * runtimes of a shard before its Lease is given up, and manage reconcilers marked `singleton`
 * run in a runtime of their own under the leader Lease (the singleton gate).
 */
@Injectable()
export class Orchestrator implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Orchestrator');
  private manage?: ClusterRuntime;
  private leader?: ClusterRuntime;
  /** Activations and deactivations run one after the other, never interleaved (one queue per
   * runtime: the singletons' leadership does not wait for the fleet's shards). */
  private queue: Promise<void> = Promise.resolve();
  private leaderQueue: Promise<void> = Promise.resolve();
  private singletonsStarted = false;
  private stopping?: Promise<void>;

  constructor(
    @Inject(RUN_GATE) private readonly gate: RunGate,
    @Inject(MANAGE_CLIENT) private readonly manageClient: ClusterClient,
    @Inject(ENGINE) private readonly engine: Engine,
    private readonly registry: RemoteClusterRegistry,
    private readonly explorer: ReconcilerExplorer,
    @Inject(EVENT_RECORDER) private readonly events: ClusterEventRecorder,
    @Optional() @Inject(SINGLETON_GATE) private readonly singletonGate?: RunGate | null,
    // The app's, when it imports ScheduleModule.forRoot() (global): the manage cluster's intervals
    // are then listed there by name. Else one of our own.
    @Optional() @Inject(SchedulerRegistry) schedulerRegistry?: SchedulerRegistry | null,
  ) {
    this.schedulerRegistry = schedulerRegistry ?? new SchedulerRegistry();
  }

  private readonly schedulerRegistry: SchedulerRegistry;

  /** True while this replica may run (it leads, there is no election, or it is a shard member). */
  get active(): boolean {
    return this.gate.active;
  }

  /** Clusters are spread over the replicas by shard. */
  get sharded(): boolean {
    return typeof this.gate.owns === 'function';
  }

  /** This replica's identity (its Lease holder name), when it has one. */
  get identity(): string | undefined {
    return this.gate.identity ?? this.singletonGate?.identity;
  }

  /** Whether this replica may run `cluster` now: with sharding, while it holds the cluster's
   * shard Lease; without, always (the manage reconcilers run only while the gate is open). */
  owns(cluster: string): boolean {
    return this.gate.owns ? this.gate.owns(cluster) : true;
  }

  /** Hears every shard this replica gains or loses (nothing without sharding). */
  onOwnershipChange(listener: (change: OwnershipChange) => void): () => void {
    return this.gate.onOwnershipChange?.(listener) ?? (() => undefined);
  }

  /** The manage reconcilers' runtime while active (with sharding, all but the singletons). */
  get manageRuntime(): ClusterRuntime | undefined {
    return this.manage;
  }

  /** With sharding, the singletons' runtime while this replica leads. */
  get leaderRuntime(): ClusterRuntime | undefined {
    return this.leader;
  }

  manageStatus(): ManagerStatus | undefined {
    return this.manage?.status();
  }

  onApplicationBootstrap(): void {
    if (this.sharded) {
      const singletons = this.explorer.explore().filter((r) => r.options.singleton);
      if (singletons.length > 0) {
        if (!this.singletonGate) {
          const names = singletons.map((r) => r.options.name).join(', ');
          throw new Error(
            `sharding: the singleton reconcilers ${names} run on one replica of the fleet only, under the leader Lease: give the leaderElection options too`,
          );
        }
        this.singletonsStarted = true;
        this.singletonGate.start({ activate: () => this.activateLeader(), deactivate: () => this.deactivateLeader() });
      }
    }
    this.gate.start({
      activate: () => this.activate(),
      deactivate: () => this.deactivate(),
      stopClusters: (which) => this.stopClusters(which),
    });
  }

  /**
   * Leaves the gates and stops the manage reconcilers and every runtime, once. NestJS runs every
   * provider's onModuleDestroy before any beforeApplicationShutdown (where this runs anyway), and
   * a global module's last: closeApp() calls this first, so no reconcile runs on while the app's
   * own providers (a database pool a reconciler uses) are destroyed.
   * Every step runs even when one before it failed: a gate that never left would keep its
   * Leases until they expire, and go on writing them under a closing client.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.singletonsStarted) await this.attempt('leaving the leader election', () => this.singletonGate?.stop());
      await this.attempt('leaving the run gate', () => this.gate.stop());
      await this.attempt('stopping the manage reconcilers', () => this.deactivate());
      await this.attempt('stopping the singleton reconcilers', () => this.deactivateLeader());
      // A spawn of your own code, or one a stopping reconcile had started, may still be under
      // way: it is stopped too, and no other may start.
      // Bounded: a hook of a cluster context that hangs must not hang the app's shutdown (the
      // runtimes' own grace, then their events' flush, and some room).
      await this.attempt('stopping every runtime', () => this.registry.close(this.stopBound()));
    })();
    return this.stopping;
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.stop();
  }

  /** After every runtime is gone: the manage cluster's events still queued are written (within
   * 2 s), then only the root closes the shared manage client, and only once the gate has left
   * (stop() is the same promise each time: this waits for a leave still releasing Leases). */
  async onApplicationShutdown(): Promise<void> {
    await this.attempt('leaving the run gate', () => this.gate.stop());
    await this.events.close(2_000);
    await this.manageClient.close();
  }

  private async attempt(what: string, step: () => Promise<void> | void): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.logger.error(`${what} failed: ${describeFailure(err)}`);
    }
  }

  private runtime(name: string, reconcilers: DiscoveredReconciler[]): ClusterRuntime {
    const runtime = new ClusterRuntime({
      name,
      client: this.manageClient,
      engine: this.engine,
      scheduler: registryScheduler(this.schedulerRegistry, `clusterregistry/${name}/`),
      ownsClient: false,
      events: this.events,
    });
    runtime.start(reconcilers);
    return runtime;
  }

  private activate(): Promise<void> {
    return this.serially(() => {
      if (this.manage) return;
      const reconcilers = this.explorer.explore().filter((r) => !(this.sharded && r.options.singleton));
      this.manage = this.runtime(MANAGE_CLUSTER_NAME, reconcilers);
      this.logger.log('running the manage reconcilers');
    });
  }

  private deactivate(): Promise<void> {
    return this.serially(async () => {
      const manage = this.manage;
      this.manage = undefined;
      // Manage reconcilers first, so none spawns a runtime while the rest are stopped.
      await manage?.stop();
      await this.registry.stopAll(this.stopBound());
      if (manage) this.logger.log('stopped the manage reconcilers and every cluster runtime');
    });
  }

  /** Stops the runtimes of the clusters a shard gate took away from this replica; resolves once
   * every one of them has stopped (its reconciles aborted, its watches and requests closed). */
  private async stopClusters(which: (cluster: string) => boolean): Promise<void> {
    // Bounded as shutdown is: the shard is held (its Lease renewed) until this returns, so one
    // cluster context whose hook hangs would keep every other cluster of the shard from moving.
    const names = this.registry.names().filter(which);
    const results = await Promise.allSettled(names.map((name) => this.registry.stop(name, this.stopBound())));
    const late = names.filter((_, i) => {
      const result = results[i]!;
      return result.status === 'rejected' && !(result.reason instanceof ClusterNotRunningError);
    });
    if (late.length > 0) {
      this.logger.warn(
        `handing over: ${late.sort().join(', ')} still stopping after ${this.stopBound().timeoutMs} ms; the shard moves on without waiting`,
      );
    }
  }

  /** How long a stop may take before this replica moves on: the runtimes' own grace, then their
   * events' flush, and some room. */
  private stopBound(): { timeoutMs: number } {
    return { timeoutMs: this.engine.stopGraceMs + CLOSE_MARGIN_MS };
  }

  private activateLeader(): Promise<void> {
    return this.leaderSerially(() => {
      if (this.leader) return;
      this.leader = this.runtime(
        MANAGE_LEADER_NAME,
        this.explorer.explore().filter((r) => r.options.singleton),
      );
      this.logger.log('running the singleton manage reconcilers');
    });
  }

  private deactivateLeader(): Promise<void> {
    return this.leaderSerially(async () => {
      const leader = this.leader;
      this.leader = undefined;
      await leader?.stop();
      if (leader) this.logger.log('stopped the singleton manage reconcilers');
    });
  }

  private serially(step: () => Promise<void> | void): Promise<void> {
    const next = this.queue.then(step);
    this.queue = next.catch((err: unknown) => this.logger.error(`lifecycle step failed: ${(err as Error).message}`));
    return next;
  }

  private leaderSerially(step: () => Promise<void> | void): Promise<void> {
    const next = this.leaderQueue.then(step);
    this.leaderQueue = next.catch((err: unknown) =>
      this.logger.error(`lifecycle step failed: ${(err as Error).message}`),
    );
    return next;
  }
}
