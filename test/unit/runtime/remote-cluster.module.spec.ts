import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NO_METRICS } from '../../../src/manager/engine-metrics.js';
import { FairLimiter } from '../../../src/queue/fair-limiter.js';
import { Reconciler } from '../../../src/reconcile/reconciler.decorator.js';
import type { Reconcile } from '../../../src/reconcile/types.js';
import type { ClusterRuntime } from '../../../src/runtime/cluster-runtime.js';
import { RemoteClusterModule } from '../../../src/runtime/remote-cluster.module.js';
import { CLUSTER_CLIENT } from '../../../src/runtime/tokens.js';
import { FakeTransport, HANG } from '../../../src/testing/fake-transport.js';
import { quietNestLogs } from '../../support/logger.js';

describe('RemoteClusterModule', () => {
  quietNestLogs();

  it('starts the runtime after, and stops it before, the hooks of a provider two deep that its reconciler uses', async () => {
    const seen: string[] = [];

    @Injectable()
    class Settings {
      constructor(@Inject(CLUSTER_CLIENT) readonly client: unknown) {}
    }

    // A pool of the reconciler's, two deep in the context's tokens as a real one is (it reads its
    // settings): up in its bootstrap hook, closed in its destroy hook.
    @Injectable()
    class Pool implements OnApplicationBootstrap, OnModuleDestroy {
      constructor(readonly settings: Settings) {}
      onApplicationBootstrap(): void {
        seen.push('pool up');
      }
      onModuleDestroy(): void {
        seen.push('pool closed');
      }
    }

    @Reconciler({ apiVersion: 'v1', kind: 'Pod', name: 'pods' })
    class Pods implements Reconcile {
      constructor(readonly pool: Pool) {}
      reconcile(): void {}
    }

    // Lists and watches hang: the runtime is started, nothing more.
    const fake = new FakeTransport().on('GET', /.*/, HANG);
    const context = await NestFactory.createApplicationContext(
      RemoteClusterModule.forCluster({
        name: 'remote-1',
        client: fake.client('remote-1'),
        manageClient: new FakeTransport().client('manage'),
        engine: { limiter: new FairLimiter(4), metrics: NO_METRICS, stopGraceMs: 100, probeIntervalMs: 60_000 },
        reconcilers: [Pods],
        providers: [Settings, Pool],
        onRuntime: (runtime: ClusterRuntime) => {
          const [start, stop] = [runtime.start.bind(runtime), runtime.stop.bind(runtime)];
          runtime.start = (reconcilers) => {
            seen.push(`runtime started with ${reconcilers.map((r) => r.options.name).join(', ')}`);
            start(reconcilers);
          };
          runtime.stop = async () => {
            await stop();
            seen.push('runtime stopped');
          };
        },
      }),
      { abortOnError: false },
    );
    try {
      expect(seen).toEqual(['pool up', 'runtime started with pods']);
    } finally {
      await context.close();
    }
    expect(seen).toEqual(['pool up', 'runtime started with pods', 'runtime stopped', 'pool closed']);
  });

  it('refuses a second context made from the same forCluster() module, which would share its client', async () => {
    const fake = new FakeTransport().on('GET', /.*/, HANG);
    const runtimes: ClusterRuntime[] = [];
    const module = RemoteClusterModule.forCluster({
      name: 'remote-1',
      client: fake.client('remote-1'),
      manageClient: new FakeTransport().client('manage'),
      engine: { limiter: new FairLimiter(4), metrics: NO_METRICS, stopGraceMs: 100, probeIntervalMs: 60_000 },
      onRuntime: (runtime) => runtimes.push(runtime),
    });
    const first = await NestFactory.createApplicationContext(module, { abortOnError: false });
    try {
      await expect(NestFactory.createApplicationContext(module, { abortOnError: false })).rejects.toThrow(
        'RemoteClusterModule.forCluster() of remote-1 was already used for a context: call it again for another',
      );
      expect(runtimes).toHaveLength(1);
      expect(runtimes[0]!.isStarted).toBe(true);
    } finally {
      await first.close();
    }
  });
});
