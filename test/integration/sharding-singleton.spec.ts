// Sharding in the library, in process: two apps with `sharding` and `leaderElection` on the same
// manage cluster. A manage reconciler runs on both (every replica works); one marked `singleton`
// runs on the leader only, and moves when the leader stops. forRootAsync decides the same parts.
import { Inject, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClusterRegistryModule } from '../../src/module/cluster-registry.module.js';
import { Reconciler } from '../../src/reconcile/reconciler.decorator.js';
import type { Reconcile, ReconcileRequest } from '../../src/reconcile/types.js';
import { ShardCoordinator } from '../../src/sharding/shard-coordinator.js';
import { Orchestrator } from '../../src/lifecycle/orchestrator.js';
import { MANAGE_LEADER_NAME } from '../../src/runtime/tokens.js';
import { ManageApi } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { eventually } from '../support/poll.js';

const clusters = testClusters();
const manage = new ManageApi(clusters.manage.kubeConfig());
const ns = uniqueName('singleton');
const APP = Symbol('APP');

/** Which app reconciled which ConfigMap of the test namespace, by reconciler. */
const seen: { app: string; reconciler: string; cluster: string }[] = [];

@Reconciler({ apiVersion: 'v1', kind: 'ConfigMap', name: 'everywhere' })
class Everywhere implements Reconcile {
  constructor(@Inject(APP) private readonly app: string) {}
  reconcilerOptions() {
    return { namespace: ns };
  }
  reconcile(req: ReconcileRequest): void {
    seen.push({ app: this.app, reconciler: 'everywhere', cluster: req.cluster });
  }
}

@Reconciler({ apiVersion: 'v1', kind: 'ConfigMap', name: 'once', singleton: true })
class Once implements Reconcile {
  constructor(@Inject(APP) private readonly app: string) {}
  reconcilerOptions() {
    return { namespace: ns };
  }
  reconcile(req: ReconcileRequest): void {
    seen.push({ app: this.app, reconciler: 'once', cluster: req.cluster });
  }
}

async function start(name: string): Promise<INestApplicationContext> {
  @Module({ providers: [{ provide: APP, useValue: name }], exports: [APP] })
  class AppConfig {}
  @Module({
    imports: [
      AppConfig,
      ClusterRegistryModule.forRootAsync({
        imports: [AppConfig],
        inject: [APP],
        useFactory: (app: string) => ({
          manageKubeConfig: clusters.manage.kubeConfig(),
          sharding: {
            namespace: ns,
            identity: app,
            shards: 4,
            leaseDurationMs: 4_000,
            renewDeadlineMs: 3_000,
            retryPeriodMs: 500,
          },
          leaderElection: {
            namespace: ns,
            identity: app,
            leaseDurationMs: 4_000,
            renewDeadlineMs: 3_000,
            retryPeriodMs: 500,
          },
        }),
      }),
    ],
    providers: [Everywhere, Once],
  })
  class Root {}
  return NestFactory.createApplicationContext(Root, { logger: ['error'] });
}

describe('sharding with a singleton manage reconciler', () => {
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    await manage.namespace(ns);
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  it('runs a manage reconciler on every replica, and a singleton on the leader only', async () => {
    apps.push(await start('app-a'));
    apps.push(await start('app-b'));
    await manage.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'one' } } });
    const leader = await eventually('one app leads', () => {
      const leading = apps.filter((a) => a.get(Orchestrator).leaderRuntime);
      return leading.length === 1 ? leading[0] : undefined;
    });
    await eventually('both run the shard-aware reconciler, the leader the singleton', () => {
      const everywhere = new Set(seen.filter((s) => s.reconciler === 'everywhere').map((s) => s.app));
      return everywhere.size === 2 && seen.some((s) => s.reconciler === 'once') ? true : undefined;
    });
    const leaderName = leader.get(ShardCoordinator).identity;
    expect(new Set(seen.filter((s) => s.reconciler === 'once').map((s) => s.app))).toEqual(new Set([leaderName]));
    expect(seen.find((s) => s.reconciler === 'once')!.cluster).toBe(MANAGE_LEADER_NAME);
    expect(seen.find((s) => s.reconciler === 'everywhere')!.cluster).toBe('manage');
    // Joined means renewed within the renew deadline (3 s here): on a loaded machine a renewal may
    // be late for a moment, so both must be members again, not at this very instant.
    await eventually('both apps are members', () =>
      apps.every((app) => app.get(ShardCoordinator).status().joined) ? true : undefined,
    );

    // The leader stops: the singleton moves to the other app (its Lease is released at once).
    const other = apps.find((a) => a !== leader)!;
    apps.splice(apps.indexOf(leader), 1);
    await leader.close();
    const before = seen.length;
    await manage.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'two' } } });
    await eventually('the other app runs the singleton', () =>
      other.get(Orchestrator).leaderRuntime && seen.slice(before).some((s) => s.reconciler === 'once')
        ? true
        : undefined,
    );
    const otherName = other.get(ShardCoordinator).identity;
    expect(
      new Set(
        seen
          .slice(before)
          .filter((s) => s.reconciler === 'once')
          .map((s) => s.app),
      ),
    ).toEqual(new Set([otherName]));
    // And it holds every shard now.
    await eventually('the other app holds every shard', () =>
      other.get(ShardCoordinator).status().running.length === 4 ? true : undefined,
    );
  });
});
