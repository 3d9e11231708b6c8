import { Logger } from '@nestjs/common';
import { describeFailure } from '../client/errors.js';
import { deadline, sleep } from '../util/abort.js';
import { claimRecord, LeaseObservation, releasedRecord, type LeaseLock } from '../lease/lease-lock.js';

export interface LeaderElectionConfig {
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): Promise<void> | void;
  onStoppedLeading(): Promise<void> | void;
}

/**
 * Lease-based leader election, as client-go's: a candidate takes the Lease when its holder has
 * not renewed it for leaseDuration (measured on our own clock from when we saw the record change,
 * so clock skew between replicas does not matter), renews every retryPeriod, and gives up
 * leadership when it could not renew within renewDeadline. On shutdown it releases the Lease so
 * another replica takes over at once.
 */
export class LeaderElector {
  private readonly logger = new Logger('LeaderElection');
  private readonly observation = new LeaseObservation();
  private leading = false;
  private running?: Promise<void>;
  private readonly abort = new AbortController();

  constructor(
    private readonly lock: LeaseLock,
    private readonly config: LeaderElectionConfig,
    private readonly callbacks: LeaderCallbacks,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops leading (callbacks first), releases the Lease, and ends the loop. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      // Candidate: try until we hold the Lease.
      let renewedAt = Date.now();
      while (!signal.aborted && !(await this.tryAcquireOrRenew(signal))) {
        await sleep(this.jittered(this.config.retryPeriodMs), signal);
        renewedAt = Date.now();
      }
      if (signal.aborted) break;
      this.leading = true;
      this.logger.log(`${this.config.identity} became leader of ${this.lock.namespace}/${this.lock.name}`);
      // Renewals go on while it runs, as client-go runs OnStartedLeading in a goroutine of its
      // own: a start that takes longer than the renew deadline must not lose the Lease.
      const starting = this.safely('onStartedLeading', () => this.callbacks.onStartedLeading());

      // Leader: renew until a renewal fails for longer than renewDeadline. As in client-go, a
      // renewal has until a retry period plus the renew deadline after the last one was sent
      // (12 of the Lease's 15 s by default): a request that hangs is cut there, or leading would
      // outlast the Lease another replica takes once it expires.
      const { retryPeriodMs, renewDeadlineMs } = this.config;
      while (!signal.aborted) {
        await sleep(retryPeriodMs, signal);
        if (signal.aborted) break;
        const cutoff = deadline(renewedAt + retryPeriodMs + renewDeadlineMs - Date.now(), signal);
        const sentAt = Date.now();
        const renewed = await this.tryAcquireOrRenew(cutoff.signal, signal).finally(() => cutoff.clear());
        if (renewed) renewedAt = sentAt;
        else if (Date.now() - renewedAt > renewDeadlineMs) break;
      }
      this.leading = false;
      await starting;
      this.logger.warn(
        `${this.config.identity} stopped leading${signal.aborted ? ' (shutting down)' : ' (lease lost)'}`,
      );
      await this.safely('onStoppedLeading', () => this.callbacks.onStoppedLeading());
      if (signal.aborted) await this.release();
    }
  }

  /** One attempt; true when we hold the Lease afterwards. `stopping` is the elector's own signal
   * (its abort is no failure to log); `signal` may end the attempt sooner. */
  private async tryAcquireOrRenew(signal: AbortSignal, stopping = signal): Promise<boolean> {
    const now = new Date();
    const { identity, leaseDurationMs } = this.config;
    try {
      const current = await this.lock.get(signal);
      if (!current) {
        await this.lock.create(claimRecord(undefined, identity, leaseDurationMs, now), signal);
        return true;
      }
      this.observation.see(current);
      const holder = current.holderIdentity;
      const heldByOther = holder && holder !== identity;
      if (heldByOther && !this.observation.expired(current)) return false;
      const record = claimRecord(current, identity, leaseDurationMs, now);
      await this.lock.update(record, signal);
      this.observation.see(record);
      return true;
    } catch (err) {
      if (!stopping.aborted)
        this.logger.warn(`lease ${this.lock.namespace}/${this.lock.name}: ${describeFailure(err)}`);
      return false;
    }
  }

  /** Gives the Lease up so a standby replica need not wait for it to expire. */
  private async release(): Promise<void> {
    const signal = AbortSignal.timeout(5_000);
    try {
      const current = await this.lock.get(signal);
      if (current?.holderIdentity !== this.config.identity) return;
      await this.lock.update(releasedRecord(current, new Date()), signal);
      this.logger.log(`${this.config.identity} released the lease`);
    } catch (err) {
      this.logger.warn(`could not release the lease: ${describeFailure(err)}`);
    }
  }

  private async safely(what: string, fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.logger.error(`${what} failed: ${describeFailure(err)}`);
    }
  }

  private jittered(ms: number): number {
    return ms * (1 + Math.random() * 0.2);
  }
}
