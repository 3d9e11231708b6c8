import { jest } from '@jest/globals';
import { Global, Injectable, Module, type INestApplicationContext, type OnModuleDestroy } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Orchestrator } from '../../../src/lifecycle/orchestrator.js';
import { closeApp } from '../../../src/lifecycle/process.js';
import { RUN_GATE, type RunGate, type RunHooks } from '../../../src/lifecycle/run-gate.js';
import { ReconcilerExplorer } from '../../../src/reconcile/reconciler.explorer.js';
import { RemoteClusterRegistry } from '../../../src/registry/remote-cluster.registry.js';
import { ENGINE, EVENT_RECORDER, MANAGE_CLIENT } from '../../../src/runtime/tokens.js';
import { advance, useFakeClock } from '../../support/clock.js';
import { quietNestLogs } from '../../support/logger.js';

/** A gate whose stop() leaves only when `leave` is resolved by the test, as a shard gate still
 * releasing its Leases; every step is written to `log`. */
class SlowGate implements RunGate {
  readonly active = true;
  private stopping?: Promise<void>;
  private release!: () => void;
  private readonly left = new Promise<void>((resolve) => (this.release = resolve));

  constructor(
    private readonly log: string[],
    private readonly name: string,
    private readonly failStop = false,
  ) {}

  owns(): boolean {
    return true;
  }

  start(_hooks: RunHooks): void {
    this.log.push(`${this.name} started`);
  }

  stop(): Promise<void> {
    if (this.failStop) return Promise.reject(new Error(`${this.name} broke`));
    this.stopping ??= this.left.then(() => void this.log.push(`${this.name} left`));
    return this.stopping;
  }

  leave(): void {
    this.release();
  }
}

/** The orchestrator's own shutdown order, with stand-ins for what it drives (no cluster here:
 * the Leases' side is tested in shard-coordinator.spec and sharding-process.spec). */
function orchestrator(log: string[], gate: RunGate, singletons: RunGate): Orchestrator {
  const done = (line?: string): Promise<void> => {
    if (line) log.push(line);
    return Promise.resolve();
  };
  const manageClient = { close: () => done('manage client closed') };
  const events = { close: () => done('events flushed') };
  const registry = { stopAll: () => done(), close: () => done(), names: () => [] };
  const explorer = { explore: () => [{ options: { name: 'summary', singleton: true } }] };
  return new Orchestrator(
    gate,
    manageClient as never,
    {} as never,
    registry as never,
    explorer as never,
    events as never,
    singletons,
  );
}

describe('Orchestrator shutdown', () => {
  quietNestLogs();

  it('closes the manage client only after the run gate has left, even when the leader election failed to stop', async () => {
    const log: string[] = [];
    const gate = new SlowGate(log, 'shards');
    const o = orchestrator(log, gate, new SlowGate(log, 'leader', true));
    o.onApplicationBootstrap();

    const before = o.beforeApplicationShutdown();
    // The shard gate is still releasing its Leases: nothing may close under it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['leader started', 'shards started']);
    gate.leave();
    await before;
    await o.onApplicationShutdown();
    expect(log).toEqual(['leader started', 'shards started', 'shards left', 'events flushed', 'manage client closed']);
  });

  it('waits for a leave still in flight before it closes the manage client, if shutdown hooks overlap', async () => {
    const log: string[] = [];
    const gate = new SlowGate(log, 'shards');
    const o = orchestrator(log, gate, new SlowGate(log, 'leader'));
    o.onApplicationBootstrap();
    void gate.stop();

    const after = o.onApplicationShutdown();
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).not.toContain('manage client closed');
    gate.leave();
    await after;
    expect(log.slice(-3)).toEqual(['shards left', 'events flushed', 'manage client closed']);
  });
});

describe('closeApp', () => {
  quietNestLogs();

  /** A root app as a user builds one: the (global) orchestrator and a module of the user's own
   * whose provider closes something a reconciler uses in onModuleDestroy. */
  async function userApp(log: string[]): Promise<INestApplicationContext> {
    const gate: RunGate = {
      active: true,
      owns: () => true,
      start: () => undefined,
      stop: () => Promise.resolve(),
    };
    const done = (line: string) => (): Promise<void> => {
      log.push(line);
      return Promise.resolve();
    };
    @Global()
    @Module({
      providers: [
        Orchestrator,
        { provide: RUN_GATE, useValue: gate },
        { provide: MANAGE_CLIENT, useValue: { close: done('manage client closed') } },
        { provide: ENGINE, useValue: {} },
        {
          provide: RemoteClusterRegistry,
          useValue: { stopAll: done('every runtime stopped'), close: done('registry closed'), names: () => [] },
        },
        { provide: ReconcilerExplorer, useValue: { explore: () => [] } },
        { provide: SchedulerRegistry, useValue: {} },
        { provide: EVENT_RECORDER, useValue: { close: () => Promise.resolve() } },
      ],
      exports: [Orchestrator],
    })
    class FakeRegistryModule {}
    @Injectable()
    class Database implements OnModuleDestroy {
      onModuleDestroy(): void {
        log.push('database closed');
      }
    }
    @Module({ providers: [Database] })
    class UserModule {}
    @Module({ imports: [FakeRegistryModule, UserModule] })
    class Root {}
    return NestFactory.createApplicationContext(Root, { logger: false });
  }

  it('stops every runtime before any provider of the app is destroyed', async () => {
    const log: string[] = [];
    await closeApp(await userApp(log));
    expect(log).toEqual(['every runtime stopped', 'registry closed', 'database closed', 'manage client closed']);
  });

  it('(app.close() alone destroys the providers first: why closeApp exists)', async () => {
    const log: string[] = [];
    await (await userApp(log)).close();
    expect(log).toEqual(['database closed', 'every runtime stopped', 'registry closed', 'manage client closed']);
  });
});

describe('Orchestrator, shard handover', () => {
  quietNestLogs();
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('hands a shard over within the stop bound when one cluster context hangs', async () => {
    let hooks: RunHooks | undefined;
    const gate: RunGate = {
      active: true,
      owns: () => true,
      start: (h) => void (hooks = h),
      stop: () => Promise.resolve(),
    };
    const stopped: string[] = [];
    const registry = {
      names: () => ['hung', 'quick'],
      // As the registry's stop: resolves once stopped, rejects past its timeout (the stop goes on).
      stop: (name: string, options: { timeoutMs?: number } = {}) =>
        new Promise<void>((resolve, reject) => {
          if (name === 'quick') {
            stopped.push(name);
            return resolve();
          }
          if (options.timeoutMs !== undefined) setTimeout(() => reject(new Error('timed out')), options.timeoutMs);
        }),
      stopAll: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const o = new Orchestrator(
      gate,
      {} as never,
      { stopGraceMs: 1_000 } as never,
      registry as never,
      { explore: () => [] } as never,
      {} as never,
    );
    o.onApplicationBootstrap();
    let handedOver = false;
    void hooks!.stopClusters!(() => true).then(() => (handedOver = true));
    await advance(5_999);
    expect(stopped).toEqual(['quick']);
    expect(handedOver).toBe(false);
    await advance(1);
    expect(handedOver).toBe(true);
  });
});
