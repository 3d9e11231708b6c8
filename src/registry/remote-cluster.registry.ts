import { Inject, Injectable, Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClusterClient } from '../client/cluster-client.js';
import { toConnectionConfig, type ClusterConfigInput } from '../client/connection.js';
import type { ClusterConnectionConfig } from '../client/kubeconfig.js';
import type { ClusterRuntime } from '../runtime/cluster-runtime.js';
import { RemoteClusterModule } from '../runtime/remote-cluster.module.js';
import type { Engine } from '../runtime/engine.js';
import { ENGINE, MANAGE_CLIENT, RESERVED_CLUSTER_NAMES } from '../runtime/tokens.js';
import { FairLimiter } from '../queue/fair-limiter.js';
import { abortable, deadline } from '../util/abort.js';
import { ClusterEntry } from './cluster-entry.js';
import {
  ClusterAlreadyRunningError,
  ClusterNameReservedError,
  ClusterNotOwnedError,
  ClusterNotRunningError,
  ClusterSpawnError,
  ClusterSyncTimeoutError,
} from './errors.js';
import { REGISTRY_OPTIONS, type RegistryOptions } from './registry-options.js';
import type { ClusterStatus, ClusterTransition, SpawnOptions, StopOptions } from './types.js';

/**
 * Cluster contexts built at once. NestJS builds a context in microtasks: with no bound, 100
 * spawned together advance in lockstep, none connects before all are built, and what each holds
 * half-built outlives the young generation and is promoted (bench:scale, 100 at once: 1.33× its
 * floor without a bound, 1.23× with 8; 4 and 2 did no better than none, 16 as well as 8).
 */
const DEFAULT_CONCURRENT_SPAWNS = 8;
/** How long one spawn may hold its turn: a context whose hook hangs must not stall the others. */
const DEFAULT_SPAWN_TURN_MS = 5_000;
const SPAWNS = 'spawns';

/**
 * One running cluster runtime per remote cluster name. The only lock is the entry of a name:
 * spawns of different names run in parallel, a second spawn of a running name fails at once,
 * and no lock is held while a context starts or stops or while a withClient callback runs, so a
 * slow or dead cluster cannot block another and calling the registry from a callback is safe.
 * Every change of a cluster's state is announced to onStateChange() listeners when it happens.
 */
@Injectable()
export class RemoteClusterRegistry {
  private readonly logger = new Logger(RemoteClusterRegistry.name);
  private readonly entries = new Map<string, ClusterEntry>();
  private readonly listeners = new Set<(transition: ClusterTransition) => void>();
  /** close() was called: the app is shutting down, and no runtime may start any more. */
  private closed = false;
  /** Turns to build a cluster context: at most maxConcurrentSpawns at once, served in order. */
  private readonly turns: FairLimiter;

  constructor(
    @Inject(ENGINE) private readonly engine: Engine,
    @Inject(MANAGE_CLIENT) private readonly manageClient: ClusterClient,
    @Inject(REGISTRY_OPTIONS) private readonly options: RegistryOptions,
  ) {
    const limit = options.maxConcurrentSpawns ?? DEFAULT_CONCURRENT_SPAWNS;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`maxConcurrentSpawns must be an integer >= 1, got ${limit}`);
    }
    // One tenant, no reserve: a plain queue of spawns whose wait each spawn's signal can end.
    this.turns = new FairLimiter(limit, { reserve: 0 });
  }

  /**
   * Starts a runtime for `name` in its own application context. Resolves once the context has
   * started (its watches are connecting); waitForSync() tells when its caches are filled.
   * `config` is a parsed kubeconfig (parseKubeconfig), or its text, or client-node's KubeConfig;
   * text and KubeConfig are parsed under the registry's connection policy. A kubeconfig that the
   * policy refuses fails with ClusterSpawnError whose cause is a KubeconfigError.
   */
  async spawn(name: string, config: ClusterConfigInput, options: SpawnOptions = {}): Promise<void> {
    if (RESERVED_CLUSTER_NAMES.includes(name)) throw new ClusterNameReservedError(name);
    // One deadline for all of it: the wait for an earlier stop of the name (whose context may hang
    // in a hook) and the new context's start.
    const time = deadline(options.timeoutMs, options.signal);
    try {
      await this.spawnWithin(name, config, time.signal);
    } finally {
      time.clear();
    }
  }

  private async spawnWithin(name: string, config: ClusterConfigInput, signal: AbortSignal): Promise<void> {
    for (;;) {
      const existing = this.entries.get(name);
      if (!existing) break;
      if (!existing.stopped) throw new ClusterAlreadyRunningError(name);
      // A name that is being stopped can be spawned again once the stop is through.
      try {
        await abortable(
          existing.stopped.catch(() => undefined),
          signal,
        );
      } catch (err) {
        throw new ClusterSpawnError(name, err);
      }
    }
    // Checked where the entry is made, with no await in between: a shard given up after this
    // point finds the entry and stops it before its Lease goes.
    if (this.closed) throw new ClusterNotOwnedError(name, 'the app is shutting down');
    if (this.options.admits && !this.options.admits(name)) throw new ClusterNotOwnedError(name, this.options.refusal);
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const { connections } = this.options;
    let connection: ClusterConnectionConfig;
    try {
      connection = this.parse(config);
    } catch (err) {
      markStarted();
      throw new ClusterSpawnError(name, err);
    }
    const entry = new ClusterEntry(name, connection.identity, started, (transition) => this.announce(transition));
    this.entries.set(name, entry);
    this.announce({ cluster: name, to: 'starting', at: new Date() });
    let client: ClusterClient | undefined;
    let runtime: ClusterRuntime | undefined;
    let failed = false;
    try {
      const release = await this.turn(signal, entry.ended);
      if (!release) {
        // stop() came first: there is nothing to build, and that stop is through once this is.
        this.logger.log(`cluster ${name}: stopped before its context was built`);
        return;
      }
      let context: INestApplicationContext;
      try {
        client = new ClusterClient({
          name,
          connection,
          policy: connections,
          maxResponseBytes: connections.maxResponseBytes,
          maxWatchEventBytes: connections.maxWatchEventBytes,
          requestTimeoutMs: connections.requestTimeoutMs,
        });
        const contents = this.options.contents();
        const module = RemoteClusterModule.forCluster({
          name,
          client,
          engine: this.engine,
          manageClient: this.manageClient,
          ...contents,
          onRuntime: (made) => {
            runtime = made;
            // Made after this spawn gave up (an abandoned context coming up late): never started.
            if (failed) void made.stop().catch(() => undefined);
          },
        });
        // abortOnError: false, or a failing context would exit the process. No logger option: a
        // child's logger would replace the process-wide one. No shutdown hooks: the root owns signals.
        const creating = NestFactory.createApplicationContext(module, { abortOnError: false });
        context = await abortable(creating, signal, (late) => void late.close());
      } finally {
        release();
      }
      // The runtime as onRuntime gave it: context.get() would index every provider of the context.
      if (!runtime) {
        await context.close().catch(() => undefined);
        throw new Error('the cluster context made no runtime');
      }
      entry.attach(context, runtime);
      this.logger.log(`cluster ${name}: runtime started`);
    } catch (err) {
      // The context is lost (a later bootstrap hook threw, or it was abandoned at the deadline),
      // but its runtime may have started: stopped here, before the name is free again, so that
      // nothing of it runs on, and a late close of that context, finding it stopped, leaves the
      // name's limiter tenant and metric series to whatever runs under the name by then.
      failed = true;
      await runtime?.stop().catch(() => undefined);
      // A runtime that never started never forgets the series its module made (the event
      // recorder's): the name is still this entry's, so nothing else uses them.
      if (!runtime?.isStarted) this.engine.metrics.forgetCluster(name);
      await client?.close();
      if (this.entries.get(name) === entry) this.entries.delete(name);
      entry.markStopped();
      throw new ClusterSpawnError(name, err);
    } finally {
      markStarted();
    }
  }

  /**
   * Waits for a turn to build a context: resolves with its release, or with nothing when the
   * cluster is stopped first (`stopped`); rejects when the spawn gives up (`signal`). A turn goes
   * back by itself after spawnTurnMs, so a bootstrap that hangs gives its turn up and goes on.
   */
  private async turn(signal: AbortSignal, stopped: AbortSignal): Promise<(() => void) | undefined> {
    const waiting = deadline(undefined, signal, stopped);
    let release: () => void;
    try {
      release = await this.turns.acquire(SPAWNS, waiting.signal);
    } catch (err) {
      if (stopped.aborted && !signal.aborted) return undefined;
      throw err;
    } finally {
      waiting.clear();
    }
    const timer = setTimeout(release, this.options.spawnTurnMs ?? DEFAULT_SPAWN_TURN_MS);
    timer.unref();
    return () => {
      clearTimeout(timer);
      release();
    };
  }

  /** A kubeconfig as spawn() would take it, under this registry's connection policy; throws
   * KubeconfigError with the reason and the field to fix. */
  parse(config: ClusterConfigInput): ClusterConnectionConfig {
    return toConnectionConfig(config, this.options.connections);
  }

  /** Stops the runtime of `name`: aborts its watches, reconciles and requests, drops its queue. */
  async stop(name: string, options: StopOptions = {}): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) throw new ClusterNotRunningError(name);
    entry.stopped ??= (async () => {
      entry.markStopping();
      await entry.started;
      try {
        await entry.close();
      } catch (err) {
        this.logger.error(`cluster ${name}: error while stopping: ${(err as Error).message}`);
      } finally {
        if (this.entries.get(name) === entry) this.entries.delete(name);
        entry.markStopped();
        this.logger.log(`cluster ${name}: runtime stopped`);
      }
    })();
    const time = deadline(options.timeoutMs, options.signal);
    await abortable(entry.stopped, time.signal).finally(() => time.clear());
  }

  /** Stops every runtime, in parallel. */
  async stopAll(options: StopOptions = {}): Promise<void> {
    await Promise.allSettled(this.names().map((n) => this.stop(n, options)));
  }

  /** At shutdown: refuses every spawn from now on (ClusterNotOwnedError) and stops every
   * runtime, one a spawn already past its checks was starting meanwhile too. Past its timeout it
   * throws, naming the clusters still stopping (their stops go on). */
  async close(options: StopOptions = {}): Promise<void> {
    this.closed = true;
    // One deadline for every round: a context whose hook hangs would otherwise keep it going.
    const time = deadline(options.timeoutMs, options.signal);
    try {
      while (this.entries.size > 0 && !time.signal.aborted) await this.stopAll({ signal: time.signal });
    } finally {
      time.clear();
    }
    if (this.entries.size > 0) {
      throw new Error(`still stopping after the deadline: ${this.names().sort().join(', ')}`);
    }
  }

  /**
   * Runs `fn` with the client of `name` and returns its result. No lock is held while it runs;
   * its signal aborts (and its requests fail) if the cluster is stopped meanwhile.
   */
  async withClient<T>(name: string, fn: (client: ClusterClient, signal: AbortSignal) => Promise<T> | T): Promise<T> {
    const entry = this.entries.get(name);
    if (!entry) throw new ClusterNotRunningError(name);
    await entry.started;
    const client = entry.client;
    if (entry.stopped || !client || this.entries.get(name) !== entry) {
      throw new ClusterNotRunningError(name, entry.stopped ? 'stopping' : 'absent');
    }
    return fn(client, client.signal);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** What the cluster is doing, as recorded at its last change (reading changes nothing). */
  status(name: string): ClusterStatus | undefined {
    return this.entries.get(name)?.status();
  }

  list(): ClusterStatus[] {
    return [...this.entries.values()].map((e) => e.status()).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Hears every change of a cluster's state (phase, cause, failing reconcilers); returns the
   * unsubscribe function. Listeners run synchronously and must be quick. */
  onStateChange(listener: (transition: ClusterTransition) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when every watch of `name` has listed; rejects with the current cause on timeout. */
  async waitForSync(name: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) throw new ClusterNotRunningError(name);
    await entry.started;
    const runtime = entry.runtime;
    // Stopping or stopped: it will not sync, and nobody should wait the whole timeout to hear it.
    if (!runtime || entry.ended.aborted) throw new ClusterNotRunningError(name, entry.stopped ? 'stopping' : 'absent');
    const time = deadline(options.timeoutMs, options.signal, entry.ended);
    try {
      await runtime.waitForSync(time.signal);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (entry.ended.aborted) throw new ClusterNotRunningError(name, entry.stopped ? 'stopping' : 'absent');
      throw new ClusterSyncTimeoutError(name, options.timeoutMs, entry.status().cause?.message);
    } finally {
      time.clear();
    }
  }

  private announce(transition: ClusterTransition): void {
    for (const listener of this.listeners) {
      try {
        listener(transition);
      } catch (err) {
        this.logger.error(`a state listener failed: ${(err as Error).message}`);
      }
    }
  }
}
