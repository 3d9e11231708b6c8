// Leader election without sharding, in process: two apps on the same manage cluster. Only the
// leader may run remote runtimes, so the standby's registry refuses spawn() (a runtime there would
// reconcile beside the leader's), and accepts it once it leads.
import type { INestApplicationContext } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RUN_GATE, type RunGate } from '../../src/lifecycle/run-gate.js';
import { ClusterRegistryModule } from '../../src/module/cluster-registry.module.js';
import { ClusterNotOwnedError, ClusterSpawnError } from '../../src/registry/errors.js';
import { RemoteClusterRegistry } from '../../src/registry/remote-cluster.registry.js';
import { ManageApi } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { eventually } from '../support/poll.js';

const clusters = testClusters();
const manage = new ManageApi(clusters.manage.kubeConfig());
const ns = uniqueName('leader');

async function start(identity: string): Promise<INestApplicationContext> {
  @Module({
    imports: [
      ClusterRegistryModule.forRoot({
        manageKubeConfig: clusters.manage.kubeConfig(),
        leaderElection: { namespace: ns, identity, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
      }),
    ],
  })
  class Root {}
  return NestFactory.createApplicationContext(Root, { logger: ['error'] });
}

const leads = (app: INestApplicationContext): boolean => app.get<RunGate>(RUN_GATE).active;

describe('leader election without sharding', () => {
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    await manage.namespace(ns);
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  it('runs remote runtimes on the leader only: the standby refuses spawn() until it leads', async () => {
    apps.push(await start('app-a'), await start('app-b'));
    const leader = await eventually('one app leads', () => {
      const leading = apps.filter(leads);
      return leading.length === 1 ? leading[0] : undefined;
    });
    const standby = apps.find((a) => a !== leader)!;
    const remote = clusters.remotes[0]!.kubeConfig();

    const refused = await standby
      .get(RemoteClusterRegistry)
      .spawn('east', remote)
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(refused).toBeInstanceOf(ClusterNotOwnedError);
    expect((refused as Error).message).toBe(
      'cluster east is not owned by this replica (this replica is not the leader)',
    );
    expect(refused).not.toBeInstanceOf(ClusterSpawnError);
    expect(standby.get(RemoteClusterRegistry).names()).toEqual([]);

    await leader.get(RemoteClusterRegistry).spawn('east', remote);
    await leader.get(RemoteClusterRegistry).waitForSync('east', { timeoutMs: 30_000 });
    expect(leader.get(RemoteClusterRegistry).names()).toEqual(['east']);

    // The leader goes (its Lease is released): the other app leads and may spawn now.
    apps.splice(apps.indexOf(leader), 1);
    await leader.close();
    await eventually('the standby leads', () => (leads(standby) ? true : undefined));
    await standby.get(RemoteClusterRegistry).spawn('east', remote);
    await standby.get(RemoteClusterRegistry).waitForSync('east', { timeoutMs: 30_000 });
    expect(standby.get(RemoteClusterRegistry).names()).toEqual(['east']);
  });
});
