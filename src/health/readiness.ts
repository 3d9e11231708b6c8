import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure } from '../client/errors.js';
import { MANAGE_CLIENT } from '../cluster/tokens.js';
import { LeaderService } from '../leader/leader.service.js';
import { ManageRuntime } from '../manage/manage-runtime.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { API_VERSION, KIND, type RemoteCluster } from '../remotecluster/types.js';

/**
 * Readiness: the manage cluster answers, and (on the leader) every RemoteCluster has a runtime
 * that finished its first sync, or a decided failure in its status. A cluster that is degraded
 * does not hold the pod unready (its cause is in the body and in its RemoteCluster's status);
 * one still connecting does.
 */
@Injectable()
export class ReadinessIndicators {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
    private readonly registry: RemoteClusterRegistry,
    private readonly manageRuntime: ManageRuntime,
    private readonly leader: LeaderService,
  ) {}

  async manageCluster() {
    const check = this.indicators.check('manage');
    try {
      await this.manage.request('GET', '/version', { timeoutMs: 3_000 });
      return check.up();
    } catch (err) {
      return check.down({ message: describeFailure(err) });
    }
  }

  clusters() {
    const check = this.indicators.check('clusters');
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
    const leader = this.leader.isLeader;
    if (!leader) return check.up({ leader, clusters });
    const pending = this.pending();
    return pending.length === 0 ? check.up({ leader, clusters }) : check.down({ leader, pending, clusters });
  }

  /** RemoteClusters whose runtime is still starting, or that have no decision yet. */
  private pending(): string[] {
    const status = this.manageRuntime.status();
    if (!status?.synced) return ['(RemoteCluster list not synced yet)'];
    const objects = (this.manageRuntime.cache(API_VERSION, KIND)?.list() ?? []) as RemoteCluster[];
    return objects
      .filter((rc) => !rc.metadata?.deletionTimestamp)
      .filter((rc) => {
        const name = rc.metadata?.name ?? '';
        const phase = this.registry.status(name)?.phase;
        if (phase === 'synced' || phase === 'degraded') return false;
        const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
        // Not running because its kubeconfig is unusable: decided, nothing to wait for.
        return !(
          phase === undefined &&
          ready?.status === 'False' &&
          ready.observedGeneration === rc.metadata?.generation
        );
      })
      .map((rc) => rc.metadata?.name ?? '');
  }
}
