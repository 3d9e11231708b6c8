import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure } from '../client/errors.js';
import { Orchestrator } from '../lifecycle/orchestrator.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { RemoteClusterReconciler } from '../remotecluster/remote-cluster.reconciler.js';
import { MANAGE_CLIENT } from '../runtime/tokens.js';
import { ShardCoordinator } from '../sharding/shard-coordinator.js';

/**
 * A terminus HealthIndicator for your own /readyz:
 *
 *   @Get('readyz') @HealthCheck()
 *   ready() { return this.health.check([() => this.registry.manage(), () => this.registry.clusters()]); }
 *
 * Never put it on a liveness probe: a cluster outage must not get the pod restarted.
 */
@Injectable()
export class ClusterRegistryHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(MANAGE_CLIENT) private readonly manageClient: ClusterClient,
    private readonly registry: RemoteClusterRegistry,
    private readonly orchestrator: Orchestrator,
    @Optional() @Inject(RemoteClusterReconciler) private readonly remoteClusters?: RemoteClusterReconciler | null,
    @Optional() @Inject(ShardCoordinator) private readonly shards?: ShardCoordinator | null,
  ) {}

  /** Up when the manage cluster answers within `timeoutMs`. */
  async manage(key = 'manage', timeoutMs = 3_000) {
    const check = this.indicators.check(key);
    try {
      await this.manageClient.request('GET', '/version', { timeoutMs });
      return check.up();
    } catch (err) {
      return check.down({ message: describeFailure(err) });
    }
  }

  /**
   * Up while this replica is a standby, and on the running replica once its manage reconcilers
   * have synced and every RemoteCluster has a decided state (synced, or failing with a reason).
   * With sharding, every replica runs: it is up once it is a member and every cluster it owns
   * is decided (the body says which shards it runs). A degraded cluster does not make the pod
   * unready: its cause is in the body and on its object.
   */
  clusters(key = 'clusters') {
    const check = this.indicators.check(key);
    const clusters = Object.fromEntries(
      this.registry.list().map((s) => [
        s.name,
        {
          phase: s.phase,
          since: s.since.toISOString(),
          ...(s.cause ? { reason: s.cause.reason, message: s.cause.message } : {}),
        },
      ]),
    );
    const active = this.orchestrator.active;
    const status = this.shards?.status();
    const sharding = status
      ? {
          identity: status.identity,
          joined: status.joined,
          members: status.members,
          shards: status.running,
          waiting: status.waiting,
          ...(status.mixedShardCounts ? { mixedShardCounts: true } : {}),
        }
      : undefined;
    const body = { active, ...(sharding ? { sharding } : {}), clusters };
    if (!active) return check.up(body);
    const pending: string[] = [];
    if (!this.orchestrator.manageStatus()?.synced) pending.push('(manage reconcilers not synced yet)');
    const leader = this.orchestrator.leaderRuntime;
    if (leader && !leader.status().synced) pending.push('(singleton reconcilers not synced yet)');
    if (status && !status.joined) pending.push('(not a shard member yet)');
    if (pending.length === 0) pending.push(...(this.remoteClusters?.pending() ?? []));
    return pending.length === 0 ? check.up(body) : check.down({ ...body, pending });
  }
}
