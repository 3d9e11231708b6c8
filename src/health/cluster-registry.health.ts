import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure } from '../client/errors.js';
import { Orchestrator } from '../lifecycle/orchestrator.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { RemoteClusterReconciler } from '../remotecluster/remote-cluster.reconciler.js';
import { MANAGE_CLIENT } from '../runtime/tokens.js';

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
   * A degraded cluster does not make the pod unready: its cause is in the body and on its object.
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
    if (!active) return check.up({ active, clusters });
    const manage = this.orchestrator.manageStatus();
    if (!manage?.synced) return check.down({ active, pending: ['(manage reconcilers not synced yet)'], clusters });
    const pending = this.remoteClusters?.pending() ?? [];
    return pending.length === 0 ? check.up({ active, clusters }) : check.down({ active, pending, clusters });
  }
}
