import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type INestApplicationContext,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ClusterClient } from '../client/cluster-client.js';
import { connectionFrom } from '../client/connection.js';
import { deadline } from '../client/deadline.js';
import { ClusterRuntime } from '../cluster/cluster-runtime.js';
import { RemoteClusterModule } from '../cluster/remote-cluster.module.js';
import type { SharedRuntime } from '../cluster/shared-runtime.js';
import {
  ClusterAlreadyRunningError,
  ClusterNotRunningError,
  ClusterSpawnError,
  ClusterSyncTimeoutError,
} from './errors.js';
import { REGISTRY_OPTIONS, type RemoteRuntimeOptions } from './registry-options.js';
import type { ClusterPhase, ClusterStatus, SpawnOptions, StopOptions } from './types.js';

export const SHARED_RUNTIME = Symbol('SHARED_RUNTIME');

interface Entry {
  name: string;
  stopping: boolean;
  started: Promise<void>;
  stopped?: Promise<void>;
  context?: INestApplicationContext;
  runtime?: ClusterRuntime;
  phase: ClusterPhase;
  since: Date;
}

/** The caller's signal and timeout as one signal; clear() once the call is over (see client/deadline). */
function callDeadline(options: { signal?: AbortSignal; timeoutMs?: number }): {
  signal?: AbortSignal;
  clear: () => void;
} {
  const time = options.timeoutMs ? deadline(options.timeoutMs) : undefined;
  const signals = [options.signal, time?.signal].filter((s): s is AbortSignal => s !== undefined);
  return {
    signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
    clear: () => time?.clear(),
  };
}

/** Resolves with `work`, or rejects when `signal` aborts first (work goes on; see `orphan`). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, orphan: (value: T) => void): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      void work.then(orphan, () => undefined);
      reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * One running cluster runtime per remote cluster name. The only lock is the entry of a name:
 * spawns of different names run in parallel, a second spawn of a running name fails at once,
 * and no lock is held while a context starts or stops or while a withClient callback runs, so a
 * slow or dead cluster cannot block another and calling the registry from a callback is safe.
 */
@Injectable()
export class RemoteClusterRegistry implements BeforeApplicationShutdown {
  private readonly logger = new Logger(RemoteClusterRegistry.name);
  private readonly entries = new Map<string, Entry>();

  constructor(
    @Inject(SHARED_RUNTIME) private readonly shared: SharedRuntime,
    @Inject(REGISTRY_OPTIONS) private readonly options: RemoteRuntimeOptions,
  ) {}

  /**
   * Starts a runtime for `name` in its own application context. Resolves once the context has
   * started (its watches are connecting); waitForSync() tells when its caches are filled.
   */
  async spawn(name: string, kubeConfig: KubeConfig, options: SpawnOptions = {}): Promise<void> {
    for (;;) {
      const existing = this.entries.get(name);
      if (!existing) break;
      // A name that is being stopped can be spawned again once the stop is through.
      if (existing.stopping && existing.stopped) await existing.stopped.catch(() => undefined);
      else throw new ClusterAlreadyRunningError(name);
    }
    let markStarted!: () => void;
    const entry: Entry = {
      name,
      stopping: false,
      started: new Promise((resolve) => (markStarted = resolve)),
      phase: 'starting',
      since: new Date(),
    };
    this.entries.set(name, entry);
    try {
      // Fail a broken kubeconfig here, with our message, before NestJS logs a stack trace for it.
      connectionFrom(kubeConfig);
      const module = RemoteClusterModule.forCluster({
        name,
        kubeConfig,
        shared: this.shared,
        reconcilers: this.options.reconcilers,
        imports: this.options.imports,
        providers: this.options.providers,
      });
      // abortOnError: false, or a failing context would exit the process. No logger option: a
      // child's logger would replace the process-wide one. No shutdown hooks: the root owns signals.
      const creating = NestFactory.createApplicationContext(module, { abortOnError: false });
      const time = callDeadline(options);
      const context = await raceAbort(creating, time.signal, (late) => void late.close()).finally(time.clear);
      entry.context = context;
      entry.runtime = context.get(ClusterRuntime);
      this.logger.log(`cluster ${name}: runtime started`);
    } catch (err) {
      this.entries.delete(name);
      throw err instanceof ClusterAlreadyRunningError ? err : new ClusterSpawnError(name, err);
    } finally {
      markStarted();
    }
  }

  /** Stops the runtime of `name`: aborts its watches, reconciles and requests, drops its queue. */
  async stop(name: string, options: StopOptions = {}): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) throw new ClusterNotRunningError(name);
    if (!entry.stopped) {
      entry.stopping = true;
      entry.phase = 'stopping';
      entry.since = new Date();
      entry.stopped = (async () => {
        await entry.started;
        try {
          await entry.context?.close();
        } catch (err) {
          this.logger.error(`cluster ${name}: error while stopping: ${(err as Error).message}`);
        } finally {
          if (this.entries.get(name) === entry) this.entries.delete(name);
          this.logger.log(`cluster ${name}: runtime stopped`);
        }
      })();
    }
    const time = callDeadline(options);
    await raceAbort(entry.stopped, time.signal, () => undefined).finally(time.clear);
  }

  /**
   * Runs `fn` with the client of `name` and returns its result. No lock is held while it runs;
   * its signal aborts (and its requests fail) if the cluster is stopped meanwhile.
   */
  async withClient<T>(name: string, fn: (client: ClusterClient, signal: AbortSignal) => Promise<T> | T): Promise<T> {
    const entry = this.entries.get(name);
    if (!entry) throw new ClusterNotRunningError(name);
    await entry.started;
    const runtime = entry.runtime;
    if (entry.stopping || !runtime || this.entries.get(name) !== entry) {
      throw new ClusterNotRunningError(name, entry.stopping ? 'stopping' : 'absent');
    }
    return fn(runtime.client, runtime.client.signal);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  status(name: string): ClusterStatus | undefined {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    const manager = entry.runtime?.status();
    let phase: ClusterPhase;
    if (entry.stopping) phase = 'stopping';
    else if (!manager) phase = 'starting';
    else if (manager.error) phase = 'degraded';
    else phase = manager.synced ? 'synced' : 'starting';
    if (phase !== entry.phase) {
      entry.phase = phase;
      entry.since = new Date();
    }
    const cause = manager?.error ? { reason: manager.error.reason, message: manager.error.message } : undefined;
    return { name, phase, since: entry.since, cause, watches: manager?.watches ?? [] };
  }

  list(): ClusterStatus[] {
    return this.names()
      .sort()
      .map((n) => this.status(n))
      .filter((s): s is ClusterStatus => s !== undefined);
  }

  /** Resolves when every watch of `name` has listed; rejects with the current cause on timeout. */
  async waitForSync(name: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) throw new ClusterNotRunningError(name);
    await entry.started;
    if (!entry.runtime) throw new ClusterNotRunningError(name);
    const time = callDeadline(options);
    try {
      await entry.runtime.waitForSync(time.signal!);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw new ClusterSyncTimeoutError(name, options.timeoutMs, this.status(name)?.cause?.message);
    } finally {
      time.clear();
    }
  }

  /** The root app is shutting down: stop every runtime, in parallel. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.names().map((n) => this.stop(n)));
  }
}
