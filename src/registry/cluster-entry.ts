import type { INestApplicationContext } from '@nestjs/common';
import type { ClusterClient } from '../client/cluster-client.js';
import type { ClusterRuntime } from '../runtime/cluster-runtime.js';
import type { ClusterCause, ClusterPhase, ClusterStatus, ClusterTransition } from './types.js';

/** Transitions kept per cluster for diagnostics. */
const HISTORY = 20;

/**
 * Everything of one cluster in one place (Cluster API's ClusterCache has one accessor per
 * cluster too): its context and runtime, the identity of the connection it was started with,
 * and a state machine whose transitions are recorded when the runtime reports a change, never
 * when someone asks.
 */
export class ClusterEntry {
  private current: { phase: ClusterPhase; since: Date; cause?: ClusterCause };
  private readonly history: ClusterTransition[] = [];
  private context?: INestApplicationContext;
  private runtimeRef?: ClusterRuntime;
  private detach?: () => void;
  /** Aborted once the cluster is stopping or stopped: waits on it end then. */
  private readonly ending = new AbortController();
  /** What changed last (phase, cause, failing controllers), to tell a change from a repeat. */
  private signature = 'starting|||';
  stopped?: Promise<void>;

  constructor(
    readonly name: string,
    readonly identity: string | undefined,
    /** Settled once spawn() is through, either way. */
    readonly started: Promise<void>,
    private readonly emit: (transition: ClusterTransition, phaseChanged: boolean) => void,
  ) {
    this.current = { phase: 'starting', since: new Date() };
    this.record({ cluster: name, to: 'starting', at: this.current.since });
  }

  /** Aborts when the cluster starts stopping (or its spawn failed). */
  get ended(): AbortSignal {
    return this.ending.signal;
  }

  get phase(): ClusterPhase {
    return this.current.phase;
  }

  get runtime(): ClusterRuntime | undefined {
    return this.runtimeRef;
  }

  get client(): ClusterClient | undefined {
    return this.runtimeRef?.client;
  }

  /** The context is up: follow its runtime's changes from now on. */
  attach(context: INestApplicationContext, runtime: ClusterRuntime): void {
    this.context = context;
    this.runtimeRef = runtime;
    this.detach = runtime.onChange(() => this.refresh());
    this.refresh();
  }

  /** stop() was called: the phase is stopping whatever the runtime says. */
  markStopping(): void {
    this.detach?.();
    this.ending.abort();
    this.move('stopping', undefined);
  }

  /** Closes the context (which stops the runtime). */
  async close(): Promise<void> {
    await this.context?.close();
  }

  markStopped(): void {
    this.ending.abort();
    this.move('stopped', undefined);
  }

  status(): ClusterStatus {
    const runtime = this.runtimeRef?.status();
    return {
      name: this.name,
      phase: this.current.phase,
      since: this.current.since,
      cause: this.current.cause,
      identity: this.identity,
      watches: runtime?.watches ?? [],
      controllers: runtime?.controllers ?? [],
      intervals: this.runtimeRef?.scheduled() ?? [],
      transitions: [...this.history],
    };
  }

  /** Derives the phase from the runtime's status and records it if anything changed. */
  private refresh(): void {
    if (this.current.phase === 'stopping' || this.current.phase === 'stopped') return;
    const status = this.runtimeRef?.status();
    if (!status) return;
    const cause = status.error ? { reason: status.error.reason, message: status.error.message } : undefined;
    const phase: ClusterPhase = cause ? 'degraded' : status.synced ? 'synced' : 'starting';
    const failing = status.controllers
      .filter((c) => c.failing > 0)
      .map((c) => `${c.name}:${c.failing > 0}:${c.lastError?.reason ?? ''}`)
      .join(',');
    this.move(phase, cause, failing);
  }

  private move(phase: ClusterPhase, cause: ClusterCause | undefined, extra = ''): void {
    const signature = `${phase}|${cause?.reason ?? ''}|${cause?.message ?? ''}|${extra}`;
    if (signature === this.signature) return;
    this.signature = signature;
    const from = this.current.phase;
    const phaseChanged = from !== phase;
    const at = phaseChanged ? new Date() : this.current.since;
    this.current = { phase, since: at, cause };
    const transition: ClusterTransition = { cluster: this.name, from, to: phase, at: new Date(), cause };
    if (phaseChanged) this.record(transition);
    this.emit(transition, phaseChanged);
  }

  private record(transition: ClusterTransition): void {
    this.history.push(transition);
    if (this.history.length > HISTORY) this.history.shift();
  }
}
