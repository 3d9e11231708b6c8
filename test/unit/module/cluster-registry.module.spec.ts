import { Injectable, Module } from '@nestjs/common';
import { ModulesContainer, NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterRegistryModule } from '../../../src/module/cluster-registry.module.js';
import { closeApp } from '../../../src/lifecycle/process.js';

/** A manage kubeconfig that nothing answers: these tests only build the app. */
function unreachable(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

@Injectable()
class Ticker {
  @Interval('app-tick', 60_000)
  tick(): void {}
}

describe('ClusterRegistryModule in an app that uses @nestjs/schedule', () => {
  it("adds no ScheduleModule of its own, so the app's @Interval runs once, and uses the app's registry", async () => {
    @Module({
      imports: [ScheduleModule.forRoot(), ClusterRegistryModule.forRoot({ manageKubeConfig: unreachable() })],
      providers: [Ticker],
    })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      const schedules = [...app.get(ModulesContainer).values()].filter((m) => m.metatype === ScheduleModule);
      // Two would each find Ticker and start its interval: every tick twice.
      expect(schedules).toHaveLength(1);
      // The app's registry lists the manage cluster's intervals beside its own.
      expect(app.get(SchedulerRegistry).getIntervals().sort()).toEqual(['app-tick', 'clusterregistry/manage/probe']);
    } finally {
      await closeApp(app);
    }
  });

  it('starts in an app that does not import ScheduleModule', async () => {
    @Module({ imports: [ClusterRegistryModule.forRoot({ manageKubeConfig: unreachable() })] })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      const schedules = [...app.get(ModulesContainer).values()].filter((m) => m.metatype === ScheduleModule);
      expect(schedules).toHaveLength(0);
    } finally {
      await closeApp(app);
    }
  });
});
