import type { ClusterClient } from '../client/cluster-client.js';
import type { RunGate, RunHooks } from '../lifecycle/run-gate.js';
import { LeaderElector } from './leader-elector.js';
import { LeaseLock } from '../lease/lease-lock.js';

export interface LeaderElectionOptions {
  /** Namespace of the Lease (the app's own). */
  namespace: string;
  /** Default clusterregistry-leader. */
  leaseName?: string;
  /** This replica in the Lease (its pod name); default host name and process id. */
  identity?: string;
  /** As client-go's leader election: 15 s, 10 s, 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/** The replica runs while it holds a coordination.k8s.io/v1 Lease in the manage cluster. */
export class LeaderElectionGate implements RunGate {
  private elector?: LeaderElector;
  readonly identity: string;

  constructor(
    private readonly client: ClusterClient,
    private readonly options: LeaderElectionOptions,
  ) {
    this.identity = options.identity ?? `${process.env.HOSTNAME ?? 'local'}-${process.pid}`;
    const lease = options.leaseDurationMs ?? 15_000;
    const renew = options.renewDeadlineMs ?? 10_000;
    if (renew >= lease) throw new Error('leader election: the renew deadline must be shorter than the lease duration');
  }

  get active(): boolean {
    return this.elector?.isLeader ?? false;
  }

  start(hooks: RunHooks): void {
    const lock = new LeaseLock(this.client, this.options.namespace, this.options.leaseName ?? 'clusterregistry-leader');
    this.elector = new LeaderElector(
      lock,
      {
        identity: this.identity,
        leaseDurationMs: this.options.leaseDurationMs ?? 15_000,
        renewDeadlineMs: this.options.renewDeadlineMs ?? 10_000,
        retryPeriodMs: this.options.retryPeriodMs ?? 2_000,
      },
      { onStartedLeading: () => hooks.activate(), onStoppedLeading: () => hooks.deactivate() },
    );
    this.elector.start();
  }

  /** Stops leading (the orchestrator stops everything first), then releases the Lease. */
  async stop(): Promise<void> {
    await this.elector?.stop();
  }
}
