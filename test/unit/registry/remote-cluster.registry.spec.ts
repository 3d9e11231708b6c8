import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { parseKubeconfig } from '../../../src/client/kubeconfig.js';
import type { ClusterClient } from '../../../src/client/cluster-client.js';
import { NO_METRICS, type EngineMetrics } from '../../../src/manager/engine-metrics.js';
import { FairLimiter } from '../../../src/queue/fair-limiter.js';
import { Reconciler } from '../../../src/reconcile/reconciler.decorator.js';
import type { ReconcileContext } from '../../../src/reconcile/types.js';
import { ClusterNotOwnedError } from '../../../src/registry/errors.js';
import { RemoteClusterRegistry } from '../../../src/registry/remote-cluster.registry.js';
import type { RegistryOptions } from '../../../src/registry/registry-options.js';
import type { Orchestrator } from '../../../src/lifecycle/orchestrator.js';
import { RemoteClusterReconciler } from '../../../src/remotecluster/remote-cluster.reconciler.js';
import { FINALIZER, type RemoteCluster } from '../../../src/remotecluster/types.js';
import type { EventRecorder } from '../../../src/events/types.js';
import type { Engine } from '../../../src/runtime/engine.js';
import { CLUSTER_CLIENT, CLUSTER_NAME } from '../../../src/runtime/tokens.js';
import { eventually } from '../../../src/testing/poll.js';
import { quietNestLogs } from '../../support/logger.js';

// A cluster nobody answers for (connections are refused): the registry's lifecycle is what is
// tested here, not a cluster. Real NestJS contexts, real timers.
const kubeconfig = (token: string): string => `apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: ${token}}}]
`;

@Reconciler({ apiVersion: 'v1', kind: 'Pod', name: 'pods' })
class PodReconciler {
  reconcile(): void {}
}

/** What the engine did under each cluster name, and what the registry said of that name then. */
class Recorded {
  readonly calls: string[] = [];
  registry?: RemoteClusterRegistry;

  engine(): Engine {
    const limiter = new FairLimiter(8);
    const drop = limiter.dropTenant.bind(limiter);
    limiter.dropTenant = (tenant: string): void => {
      this.calls.push(`dropTenant ${tenant} (${this.registry?.status(tenant)?.phase ?? 'absent'})`);
      drop(tenant);
    };
    const metrics: EngineMetrics = {
      ...NO_METRICS,
      forgetCluster: (cluster: string) =>
        this.calls.push(`forgetCluster ${cluster} (${this.registry?.status(cluster)?.phase ?? 'absent'})`),
    };
    return { limiter, metrics, stopGraceMs: 100, probeIntervalMs: 60_000 };
  }
}

function registryWith(
  recorded: Recorded,
  providers: RegistryOptions['contents'],
  options: Pick<RegistryOptions, 'maxConcurrentSpawns' | 'spawnTurnMs'> = {},
): RemoteClusterRegistry {
  const registry = new RemoteClusterRegistry(recorded.engine(), {} as ClusterClient, {
    contents: providers,
    connections: {},
    ...options,
  });
  recorded.registry = registry;
  return registry;
}

describe('RemoteClusterRegistry when a spawn fails, and when it stops', () => {
  let registry: RemoteClusterRegistry | undefined;

  quietNestLogs();
  afterEach(async () => {
    await registry?.stopAll();
    registry = undefined;
  });

  it('stops the runtime a context started before a later bootstrap hook of that context threw', async () => {
    // Deeper in the dependency tree than the runtime's host, so its hook runs after the host's.
    @Injectable()
    class First {
      constructor(@Inject(CLUSTER_CLIENT) readonly client: ClusterClient) {}
    }
    @Injectable()
    class Second {
      constructor(readonly first: First) {}
    }
    @Injectable()
    class Third {
      constructor(readonly second: Second) {}
    }
    @Injectable()
    class Failing implements OnApplicationBootstrap {
      constructor(readonly third: Third) {}
      onApplicationBootstrap(): void {
        throw new Error('a CRD check failed');
      }
    }
    const recorded = new Recorded();
    registry = registryWith(recorded, () => ({
      reconcilers: [PodReconciler],
      imports: [],
      providers: [First, Second, Third, Failing],
    }));

    await expect(registry.spawn('x', parseKubeconfig(kubeconfig('t')))).rejects.toThrow('a CRD check failed');

    // The runtime had started (its watch was connecting): it is stopped before spawn() rejects.
    expect(recorded.calls).toEqual(['dropTenant x (starting)', 'forgetCluster x (starting)']);
    expect(registry.has('x')).toBe(false);
  });

  it('leaves a runtime spawned again alone when the abandoned context of a timed-out spawn comes up late', async () => {
    let first = true;
    let lateContextClosed = false;
    @Injectable()
    class SlowOnce implements OnModuleDestroy {
      readonly late = first;
      async onModuleInit(): Promise<void> {
        if (!this.late) return;
        first = false;
        // The first context comes up after its spawn's deadline.
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      onModuleDestroy(): void {
        if (this.late) lateContextClosed = true;
      }
    }
    const recorded = new Recorded();
    registry = registryWith(recorded, () => ({ reconcilers: [PodReconciler], imports: [], providers: [SlowOnce] }));
    const config = parseKubeconfig(kubeconfig('t'));

    await expect(registry.spawn('x', config, { timeoutMs: 100 })).rejects.toThrow('cluster x failed to start');
    // Its module's series, forgotten while the name was still the failed spawn's.
    expect(recorded.calls).toEqual(['forgetCluster x (starting)']);
    recorded.calls.length = 0;
    await registry.spawn('x', config);
    await eventually('the late context closed', () => (lateContextClosed ? true : undefined), 10_000);

    // Nothing was dropped under the name while the new runtime ran.
    expect(recorded.calls).toEqual([]);
    expect(registry.has('x')).toBe(true);
    await registry.stop('x');
    expect(recorded.calls).toEqual(['dropTenant x (stopping)', 'forgetCluster x (stopping)']);
  });

  it('forgets the metric series of a cluster whose context failed before its runtime existed', async () => {
    @Injectable()
    class Broken {
      constructor() {
        throw new Error('broken on purpose');
      }
    }
    const recorded = new Recorded();
    registry = registryWith(recorded, () => ({ reconcilers: [PodReconciler], imports: [], providers: [Broken] }));
    await expect(registry.spawn('x', parseKubeconfig(kubeconfig('t')))).rejects.toThrow('cluster x failed to start');
    expect(recorded.calls).toEqual(['forgetCluster x (starting)']);
    expect(registry.has('x')).toBe(false);
  });

  it('bounds a spawn that waits for an earlier stop of its name by its own timeout and signal', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let hang = true;
    @Injectable()
    class HangsOnDestroy implements OnModuleDestroy {
      readonly hangs = hang;
      async onModuleDestroy(): Promise<void> {
        if (this.hangs) await released;
      }
    }
    const recorded = new Recorded();
    registry = registryWith(recorded, () => ({
      reconcilers: [PodReconciler],
      imports: [],
      providers: [HangsOnDestroy],
    }));
    const config = parseKubeconfig(kubeconfig('t'));
    await registry.spawn('x', config);
    hang = false;
    await expect(registry.stop('x', { timeoutMs: 100 })).rejects.toThrow();
    expect(registry.status('x')?.phase).toBe('stopping');

    await expect(registry.spawn('x', config, { timeoutMs: 100 })).rejects.toThrow('cluster x failed to start');
    const abort = new AbortController();
    const aborted = registry.spawn('x', config, { signal: abort.signal });
    abort.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('cluster x failed to start: caller gave up');
    // Neither touched the stopping runtime; once its stop is through, the name starts again.
    expect(registry.status('x')?.phase).toBe('stopping');
    release();
    await registry.spawn('x', config, { timeoutMs: 10_000 });
    expect(registry.status('x')?.phase).toBe('starting');
  });

  it('close() gives up at its deadline on a context that hangs in its destroy hook, naming it', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    @Injectable()
    class HangsOnDestroy implements OnModuleDestroy {
      onModuleDestroy(): Promise<void> {
        return released;
      }
    }
    const recorded = new Recorded();
    registry = registryWith(recorded, () => ({
      reconcilers: [PodReconciler],
      imports: [],
      providers: [HangsOnDestroy],
    }));
    await registry.spawn('x', parseKubeconfig(kubeconfig('t')));
    await expect(registry.close({ timeoutMs: 100 })).rejects.toThrow('still stopping after the deadline: x');
    release();
    await eventually('x stopped', () => (registry?.has('x') ? undefined : true), 10_000);
  });

  it('close() stops every runtime, one still starting too, and refuses every spawn after it', async () => {
    const recorded = new Recorded();
    registry = registryWith(recorded, () => ({ reconcilers: [PodReconciler], imports: [], providers: [] }));
    const config = parseKubeconfig(kubeconfig('t'));
    await registry.spawn('a', config);
    const starting = registry.spawn('b', config);
    await registry.close();
    await starting;
    expect(registry.names()).toEqual([]);
    await expect(registry.spawn('c', config)).rejects.toBeInstanceOf(ClusterNotOwnedError);
    expect(registry.names()).toEqual([]);
  });

  it('ends a waitForSync when the cluster is stopped, and refuses one on a stopping cluster', async () => {
    const recorded = new Recorded();
    registry = registryWith(recorded, () => ({ reconcilers: [PodReconciler], imports: [], providers: [] }));
    await registry.spawn('x', parseKubeconfig(kubeconfig('t')));
    // Nobody answers at 127.0.0.1:1: it never syncs. A minute would fail this test on its timeout.
    const waiting = registry.waitForSync('x', { timeoutMs: 60_000 });
    const stopping = registry.stop('x');
    const late = registry.waitForSync('x', { timeoutMs: 60_000 });
    await expect(waiting).rejects.toMatchObject({ name: 'ClusterNotRunningError', phase: 'stopping' });
    await expect(late).rejects.toMatchObject({ name: 'ClusterNotRunningError', phase: 'stopping' });
    await stopping;
  });
});

describe('RemoteClusterRegistry turns to build contexts (maxConcurrentSpawns)', () => {
  let registry: RemoteClusterRegistry | undefined;
  /** Contexts in their onModuleInit now, the most at once, and the order they entered it. */
  let building = 0;
  let most = 0;
  let order: string[] = [];
  /** The clusters whose onModuleInit waits until open() (the others take 20 ms). */
  let held = new Set<string>();
  let gate: Promise<void> = Promise.resolve();
  let open!: () => void;
  const hold = (names: string[]): void => {
    gate = new Promise((resolve) => (open = resolve));
    held = new Set(names);
  };

  @Injectable()
  class Building implements OnModuleInit {
    constructor(@Inject(CLUSTER_NAME) private readonly name: string) {}
    async onModuleInit(): Promise<void> {
      order.push(this.name);
      most = Math.max(most, ++building);
      try {
        await (held.has(this.name) ? gate : new Promise((resolve) => setTimeout(resolve, 20)));
      } finally {
        building--;
      }
    }
  }
  const contents: RegistryOptions['contents'] = () => ({
    reconcilers: [PodReconciler],
    imports: [],
    providers: [Building],
  });
  const config = parseKubeconfig(kubeconfig('t'));

  quietNestLogs();
  beforeEach(() => {
    building = most = 0;
    order = [];
    held = new Set();
  });
  afterEach(async () => {
    open?.();
    await registry?.close({ timeoutMs: 10_000 });
    registry = undefined;
  });

  it('builds at most that many contexts at once, in the order the spawns came', async () => {
    registry = registryWith(new Recorded(), contents, { maxConcurrentSpawns: 2 });
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    await Promise.all(names.map((n) => registry!.spawn(n, config)));
    expect(most).toBe(2);
    expect(new Set(order.slice(0, 2))).toEqual(new Set(['a', 'b']));
    expect(order.slice(2)).toEqual(['c', 'd', 'e', 'f']);
    expect(registry.names().sort()).toEqual(names);
  });

  it('lets a spawn waiting for its turn give up at its own deadline, and a stop end its wait', async () => {
    registry = registryWith(new Recorded(), contents, { maxConcurrentSpawns: 1, spawnTurnMs: 60_000 });
    hold(['a']);
    const a = registry.spawn('a', config);
    await eventually('a building', () => (building === 1 ? true : undefined), 10_000);

    await expect(registry.spawn('b', config, { timeoutMs: 100 })).rejects.toThrow('cluster b failed to start');
    expect(registry.has('b')).toBe(false);
    // Stopped while it waits: nothing is built, and spawn() and stop() both return.
    const c = registry.spawn('c', config);
    expect(registry.status('c')?.phase).toBe('starting');
    await registry.stop('c', { timeoutMs: 10_000 });
    await c;
    expect(registry.has('c')).toBe(false);
    expect(order).toEqual(['a']);

    open();
    await a;
    await registry.spawn('d', config, { timeoutMs: 10_000 });
    expect(order).toEqual(['a', 'd']);
  });

  it('gives the turn of a context that hangs to the next spawn after spawnTurnMs', async () => {
    registry = registryWith(new Recorded(), contents, { maxConcurrentSpawns: 1, spawnTurnMs: 200 });
    hold(['a']);
    const a = registry.spawn('a', config);
    await registry.spawn('b', config, { timeoutMs: 10_000 });
    // a still hangs in its hook: b was built beside it, on the turn a held too long.
    expect(order).toEqual(['a', 'b']);
    expect(registry.status('a')?.phase).toBe('starting');
    open();
    await a;
  });

  it('refuses a limit that is not a whole number of at least one', () => {
    expect(() => registryWith(new Recorded(), contents, { maxConcurrentSpawns: 0 })).toThrow(
      'maxConcurrentSpawns must be an integer >= 1, got 0',
    );
  });
});

describe('RemoteClusterReconciler after its controller stopped mid-reconcile', () => {
  quietNestLogs();

  it('does not spawn again the runtime it was restarting', async () => {
    // A context whose stop takes a moment, as any does (events flush, reconciles get their grace).
    @Injectable()
    class SlowStop implements OnModuleDestroy {
      async onModuleDestroy(): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    }
    const recorded = new Recorded();
    const registry = registryWith(recorded, () => ({ reconcilers: [], imports: [], providers: [SlowStop] }));
    await registry.spawn('east', kubeconfig('old'));
    const orchestrator = { owns: () => true } as unknown as Orchestrator;
    const manage = {
      request: (_method: string, _path: string, options?: { signal?: AbortSignal }) =>
        options?.signal?.aborted ? Promise.reject(options.signal.reason as Error) : Promise.resolve({}),
    } as unknown as ClusterClient;
    const recorder = { forController: () => ({ event: () => undefined }) } as unknown as EventRecorder;
    const reconciler = new RemoteClusterReconciler(
      registry,
      orchestrator,
      manage,
      { secretNamespace: 'ops', stopTimeoutMs: 10_000 },
      recorder,
    );
    const rc: RemoteCluster = {
      apiVersion: 'clusterregistry.dev/v1alpha1',
      kind: 'RemoteCluster',
      metadata: { name: 'east', finalizers: [FINALIZER], resourceVersion: '1', generation: 1 },
      spec: { kubeConfig: { secretRef: { namespace: 'ops', name: 's', key: 'kubeconfig' } } },
    };
    // The kubeconfig changed: the reconcile stops the runtime to start it on the new one.
    const secret = {
      metadata: { namespace: 'ops', name: 's' },
      data: { kubeconfig: Buffer.from(kubeconfig('new')).toString('base64') },
    };
    const abort = new AbortController();
    const ctx = {
      signal: abort.signal,
      cache: { get: () => rc, list: () => [rc] },
      cacheOf: () => ({ get: () => secret, list: () => [secret] }),
    } as unknown as ReconcileContext<RemoteCluster>;
    const reconcile = reconciler.reconcile({ cluster: 'manage', name: 'east' }, ctx).catch(() => undefined);
    await eventually('the old runtime stopping', () =>
      registry.status('east')?.phase === 'stopping' ? true : undefined,
    );

    // Leadership lost meanwhile: the controller aborts the reconcile, then every runtime stops.
    abort.abort(new Error('controller remoteclusters stopped'));
    await registry.stopAll();
    await reconcile;

    expect(registry.names()).toEqual([]);
  });
});
