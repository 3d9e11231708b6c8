import { Logger } from '@nestjs/common';
import { Informer } from '../cache/informer.js';
import type { InformerEvent } from '../cache/types.js';
import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, KubeApiError } from '../client/errors.js';
import {
  claimRecord,
  isHeld,
  LEASE_API_VERSION,
  LeaseLock,
  LeaseObservation,
  releasedRecord,
  type Lease,
  type LeaseRecord,
} from '../lease/lease-lock.js';
import type { OwnershipChange, RunGate, RunHooks } from '../lifecycle/run-gate.js';
import { assign, shardOf } from './hash.js';
import {
  NO_SHARD_METRICS,
  resolveShardingOptions,
  type ResolvedShardingOptions,
  type ShardingOptions,
  type ShardMetrics,
} from './options.js';

/** Label of every member and shard Lease: `<leasePrefix>`. The coordinator watches this only. */
export const SHARDING_LABEL = 'clusterregistry.dev/sharding';
/** Annotation of a member Lease: the shard count that replica uses. */
export const SHARDS_ANNOTATION = 'clusterregistry.dev/shards';
/** The cooling key of claiming a member slot (any slot: see claimSlot). */
const CLAIM = 'member slot claim';

interface HeldShard {
  shard: number;
  /** running: its clusters may run here; releasing: their runtimes are being stopped (or are),
   * and the Lease is kept until then so nobody else starts them meanwhile. */
  state: 'running' | 'releasing';
  /** When the request of our last successful write was sent: we may run the shard until
   * renewDeadline after it. */
  renewedAt: number;
  attemptedAt: number;
  /** The record we wrote last. */
  record: LeaseRecord;
  /** Fires at renewedAt + renewDeadline: the clusters stop if no renewal came through. */
  deadline?: NodeJS.Timeout;
  /** Releasing only: every runtime of the shard has stopped; the Lease may go. */
  stopped: boolean;
  busy: boolean;
}

interface Member {
  slot: number;
  renewedAt: number;
  attemptedAt: number;
  record: LeaseRecord;
  busy: boolean;
}

/** What a replica's sharding looks like now (health, diagnostics). */
export interface ShardingStatus {
  identity: string;
  /** Holds a member Lease renewed within the renew deadline. */
  joined: boolean;
  slot?: number;
  /** Live members as this replica sees them, itself included once joined. */
  members: string[];
  shards: number;
  /** Shards whose clusters run here. */
  running: number[];
  /** Shards whose clusters are being stopped before their Lease goes. */
  releasing: number[];
  /** Shards assigned to this replica that another still holds (until it releases or expires). */
  waiting: number[];
  /** A live member uses another shard count: nothing new is acquired. */
  mixedShardCounts: boolean;
  /** Lease writes since start. */
  writes: { member: number; shard: number };
}

/**
 * Spreads RemoteClusters over the replicas with Leases only. Every replica keeps one member
 * Lease (a slot `<prefix>-member-<k>`, holder = its identity); the live members are the holders
 * of member Leases renewed within their lease duration on our own clock. A cluster's shard is a
 * hash of its name; a shard's owner is the member with the highest rendezvous weight for it; a
 * shard is fenced by its own Lease `<prefix>-shard-<n>`, which only its holder renews.
 *
 * A replica runs a shard's clusters only while it holds the shard's Lease: it takes a Lease only
 * when it is free (absent, released, or expired on our clock: leaseDuration without a change),
 * and stops the shard's clusters when a renewal has not come through within renewDeadline of
 * the last successful one being sent, before any other replica could see the Lease expire. A
 * shard that moves to another member is handed over: stop its clusters, then release the Lease.
 *
 * Lease writes are one per member and one per shard each retry period, whatever the number of
 * clusters. The coordinator is the run gate of the manage reconcilers that are shard-aware (they
 * run on every replica and ask owns()), and the orchestrator stops the runtimes of a shard
 * (stopClusters) before its Lease is given up.
 */
export class ShardCoordinator implements RunGate {
  private readonly logger = new Logger('Sharding');
  readonly options: ResolvedShardingOptions;
  private readonly informer: Informer<Lease>;
  private readonly abort = new AbortController();
  private readonly locks = new Map<string, LeaseLock>();
  private readonly observations = new Map<string, LeaseObservation>();
  /** Leases whose last write failed, and when they may be written again: an apiserver that
   * refuses (RBAC) or fails fast (429, 5xx) is asked again a retry period later, as client-go's
   * elector does, not on every plan. Renewals are paced by their own attemptedAt. */
  private readonly coolingUntil = new Map<string, number>();
  /** The resourceVersion of our last successful write of each Lease: a Lease with our identity
   * is ours only at that version (a previous process with the same name is not us). */
  private readonly written = new Map<string, string>();
  /** Per Lease, our last renewal that got no answer (a timeout, a 5xx): it may have committed. */
  private readonly unanswered = new Map<string, LeaseRecord>();
  private readonly held = new Map<number, HeldShard>();
  private readonly acquiring = new Set<number>();
  /** Member Leases of others being released because they expired (one write each at a time). */
  private readonly reaping = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly listeners = new Set<(change: OwnershipChange) => void>();
  private hooks?: RunHooks;
  private member?: Member;
  private claiming = false;
  private members: string[] = [];
  private owners: (string | undefined)[] = [];
  private ownersKey?: string;
  private mixed = false;
  private warnedFull = false;
  private started = false;
  private leaving = false;
  private finished = false;
  /** Leaving, every runtime stopped: only the final releases are left. */
  private draining = false;
  private stopping?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private kicked = false;
  private readonly writes = { member: 0, shard: 0 };
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly client: ClusterClient,
    options: ShardingOptions,
    private readonly metrics: ShardMetrics = NO_SHARD_METRICS,
  ) {
    this.options = resolveShardingOptions(options);
    const { namespace, leasePrefix, leaseDurationMs, renewDeadlineMs } = this.options;
    this.requestTimeoutMs = Math.max(1_000, Math.min(5_000, renewDeadlineMs / 2));
    this.informer = new Informer<Lease>(
      client,
      { apiVersion: LEASE_API_VERSION, kind: 'Lease', namespace, labelSelector: `${SHARDING_LABEL}=${leasePrefix}` },
      // Leases change every retry period: a silent watch is a broken one.
      { inactivityMs: Math.max(5_000, leaseDurationMs), backoff: { baseMs: 200, maxMs: 5_000 } },
    );
  }

  get identity(): string {
    return this.options.identity;
  }

  /** The manage reconcilers run on every replica from start to shutdown. */
  get active(): boolean {
    return this.started && !this.finished;
  }

  shardOf(cluster: string): number {
    return shardOf(cluster, this.options.shards);
  }

  /** True while this replica holds the Lease of the cluster's shard and may run it. */
  owns(cluster: string): boolean {
    return this.held.get(this.shardOf(cluster))?.state === 'running';
  }

  onOwnershipChange(listener: (change: OwnershipChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): ShardingStatus {
    const now = Date.now();
    const held = [...this.held.values()];
    return {
      identity: this.identity,
      joined: this.joined(now),
      slot: this.member?.slot,
      members: [...this.members],
      shards: this.options.shards,
      running: held
        .filter((h) => h.state === 'running')
        .map((h) => h.shard)
        .sort((a, b) => a - b),
      releasing: held
        .filter((h) => h.state === 'releasing')
        .map((h) => h.shard)
        .sort((a, b) => a - b),
      waiting: this.owners.flatMap((owner, shard) => (owner === this.identity && !this.held.has(shard) ? [shard] : [])),
      mixedShardCounts: this.mixed,
      writes: { ...this.writes },
    };
  }

  start(hooks: RunHooks): void {
    if (this.started) return;
    this.started = true;
    this.hooks = hooks;
    this.informer.on((event) => this.onLeaseEvent(event));
    void this.informer.start(this.abort.signal);
    void Promise.resolve(hooks.activate());
    void this.informer.waitForSync(this.abort.signal).then(
      () => this.plan(),
      () => undefined,
    );
  }

  /**
   * Leaves the fleet: releases the member Lease first (the others recompute the owners at once),
   * stops every runtime and the manage reconcilers (deactivate), then releases every shard Lease,
   * which the new owners take as soon as they see it released.
   */
  stop(): Promise<void> {
    if (!this.started) return Promise.resolve();
    this.stopping ??= this.leave();
    return this.stopping;
  }

  private async leave(): Promise<void> {
    this.leaving = true;
    for (const held of this.held.values()) if (held.state === 'running') this.markReleasing(held, 'released', false);
    await this.settled();
    await this.releaseMember();
    // Meanwhile the plan goes on renewing the shard Leases: nobody may start their clusters
    // before their runtimes here have stopped.
    try {
      await this.hooks?.deactivate();
    } catch (err) {
      this.logger.error(`stopping the reconcilers failed: ${describeFailure(err)}`);
    }
    this.draining = true;
    clearTimeout(this.timer);
    await this.settled();
    for (const held of this.held.values()) {
      held.state = 'releasing';
      held.stopped = true;
    }
    await Promise.all([...this.held.values()].map((held) => this.giveUp(held)));
    this.finished = true;
    for (const held of this.held.values()) clearTimeout(held.deadline);
    this.abort.abort(new Error('sharding stopped'));
    this.metrics.shards(this.identity, 0, 0);
  }

  /** Waits for every Lease write in flight. */
  private async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private onLeaseEvent(event: InformerEvent<Lease>): void {
    const lease = event.object;
    const name = lease.metadata?.name ?? '';
    if (event.type !== 'delete') this.observation(name).see(lease.spec ?? {});
    // Renewals of shards by their holders change nothing here; the periodic plan sees expiry.
    if (
      event.type === 'update' &&
      name.startsWith(`${this.options.leasePrefix}-shard-`) &&
      isHeld(lease.spec) &&
      event.old.spec?.holderIdentity === lease.spec?.holderIdentity
    ) {
      return;
    }
    this.kick();
  }

  /** A plan on the next turn (many events in one turn make one plan). */
  private kick(): void {
    if (this.kicked || this.finished) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.plan();
    });
  }

  private cooling(name: string, now: number): boolean {
    const until = this.coolingUntil.get(name);
    if (until === undefined) return false;
    if (now < until) return true;
    this.coolingUntil.delete(name);
    return false;
  }

  private joined(now: number): boolean {
    return this.member !== undefined && now < this.member.renewedAt + this.options.renewDeadlineMs;
  }

  private observation(name: string): LeaseObservation {
    let observation = this.observations.get(name);
    if (!observation) this.observations.set(name, (observation = new LeaseObservation()));
    return observation;
  }

  private lock(name: string, member: boolean): LeaseLock {
    let lock = this.locks.get(name);
    if (!lock) {
      const { namespace, leasePrefix, shards } = this.options;
      lock = new LeaseLock(
        this.client,
        namespace,
        name,
        {
          labels: { [SHARDING_LABEL]: leasePrefix },
          annotations: member ? { [SHARDS_ANNOTATION]: String(shards) } : undefined,
        },
        this.requestTimeoutMs,
      );
      this.locks.set(name, lock);
    }
    return lock;
  }

  private memberName(slot: number): string {
    return `${this.options.leasePrefix}-member-${slot}`;
  }

  private shardName(shard: number): string {
    return `${this.options.leasePrefix}-shard-${shard}`;
  }

  private ours(lease: Lease): boolean {
    return (
      lease.spec?.holderIdentity === this.identity &&
      this.written.get(lease.metadata.name) === lease.metadata.resourceVersion
    );
  }

  /** Free to take: absent, released, expired on our clock, or still ours from our last write. */
  private free(lease: Lease | undefined, now: number): boolean {
    if (!lease) return true;
    if (!isHeld(lease.spec) || this.ours(lease)) return true;
    return this.observation(lease.metadata.name).expired(lease.spec, now);
  }

  /**
   * Decides and starts what is due now: claiming or renewing the member Lease, and for every
   * shard, acquiring, renewing, handing over or giving up its Lease. Synchronous: writes run on
   * their own (one at a time per Lease), so a slow request never holds back another Lease.
   */
  private plan(): void {
    if (!this.started || this.finished || this.draining) return;
    const now = Date.now();
    const leases = new Map<string, Lease>();
    for (const lease of this.informer.store.list()) {
      const name = lease.metadata.name;
      leases.set(name, lease);
      this.observation(name).see(lease.spec ?? {}, now);
    }
    const { retryPeriodMs, shards } = this.options;

    if (!this.leaving) {
      if (!this.member) {
        if (!this.claiming) this.claimSlot(leases, now);
      } else if (!this.member.busy && now - this.member.attemptedAt >= retryPeriodMs) {
        this.track(this.renewMember(this.member));
      }
    }

    this.refreshMembers(leases, now);
    const eligible = this.joined(now) && !this.leaving;
    if (eligible) {
      this.reapMembers(leases, now);
      if (!this.mixed) this.reapShards(leases, now);
    }
    for (let shard = 0; shard < shards; shard++) {
      const held = this.held.get(shard);
      const mine = eligible && this.owners[shard] === this.identity;
      if (held) {
        // A mixed fleet freezes: nothing is acquired, and nothing handed to a member that would not take it.
        if (held.state === 'running' && !mine && !(this.mixed && eligible)) this.markReleasing(held, 'released');
        if (!held.busy) {
          if (held.state === 'releasing' && held.stopped) {
            if (!this.cooling(this.shardName(held.shard), now)) this.track(this.giveUp(held));
          } else if (now - held.attemptedAt >= retryPeriodMs) this.track(this.renew(held));
        }
      } else if (mine && !this.mixed && !this.acquiring.has(shard) && !this.reaping.has(this.shardName(shard))) {
        const lease = leases.get(this.shardName(shard));
        if (this.free(lease, now) && !this.cooling(this.shardName(shard), now)) this.track(this.acquire(shard, lease));
      }
    }
    let running = 0;
    for (const held of this.held.values()) if (held.state === 'running') running++;
    this.metrics.shards(this.identity, running, this.members.length);
    this.schedule(leases, now);
  }

  /** The next plan: when a renewal is due, or a Lease we wait for expires; a retry period at most. */
  private schedule(leases: Map<string, Lease>, now: number): void {
    const { retryPeriodMs } = this.options;
    let next = now + retryPeriodMs;
    const due = (at: number): void => {
      if (at > now && at < next) next = at;
    };
    for (const held of this.held.values()) if (!held.busy) due(held.attemptedAt + retryPeriodMs);
    if (this.member && !this.member.busy) due(this.member.attemptedAt + retryPeriodMs);
    for (const until of this.coolingUntil.values()) due(until);
    for (const [name, lease] of leases) {
      if (!isHeld(lease.spec) || lease.spec.holderIdentity === this.identity) continue;
      due(this.observation(name).expiresAt(lease.spec) + 1);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.plan(), Math.max(0, next - now));
    this.timer.unref();
  }

  private track(work: Promise<unknown>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private refreshMembers(leases: Map<string, Lease>, now: number): void {
    const live = new Set<string>();
    let mixed = false;
    for (let slot = 0; slot < this.options.maxReplicas; slot++) {
      const name = this.memberName(slot);
      const lease = leases.get(name);
      if (this.member?.slot === slot) {
        if (this.joined(now)) live.add(this.identity);
        continue;
      }
      if (!lease || !isHeld(lease.spec) || this.observation(name).expired(lease.spec, now)) continue;
      live.add(lease.spec.holderIdentity!);
      const count = lease.metadata.annotations?.[SHARDS_ANNOTATION];
      if (count !== undefined && count !== String(this.options.shards)) mixed = true;
    }
    if (mixed !== this.mixed) {
      this.mixed = mixed;
      if (mixed) {
        this.logger.warn(
          `a live member uses another shard count than ${this.options.shards}: no shard is taken until every replica uses the same count`,
        );
      }
    }
    const members = [...live].sort();
    const key = members.join('\u0000');
    if (key === this.ownersKey) return;
    this.ownersKey = key;
    this.members = members;
    this.owners = assign(members, this.options.shards);
    const assigned = this.owners.filter((o) => o === this.identity).length;
    this.logger.log(
      `members: ${members.join(', ') || 'none'}; ${assigned} of ${this.options.shards} shards assigned to ${this.identity}`,
    );
  }

  /**
   * Releases the member Lease of a replica that stopped renewing it (expired on our clock), at
   * the version we saw expire: a replica that starts later judges expiry from when it first sees
   * a Lease, so without this it would count the dead one as a member for a lease duration and
   * disagree with the others on the owners, leaving the shards they hand it untaken meanwhile.
   * A replica that was only cut off finds its Lease written (409) and claims a slot again.
   */
  private reapMembers(leases: Map<string, Lease>, now: number): void {
    for (let slot = 0; slot < this.options.maxReplicas; slot++) {
      const name = this.memberName(slot);
      const lease = leases.get(name);
      if (slot === this.member?.slot || !lease || this.reaping.has(name) || this.cooling(name, now)) continue;
      if (!isHeld(lease.spec) || this.ours(lease) || !this.observation(name).expired(lease.spec, now)) continue;
      this.reaping.add(name);
      this.track(this.reap(name, lease).finally(() => this.reaping.delete(name)));
    }
  }

  /**
   * Releases the Lease of a shard assigned to another member once it has been expired on our
   * clock for a retry period (its owner, if it saw the Lease as long as we did, took it by then),
   * at the version we saw expire. An owner that joined just after the holder died judges expiry
   * from when it first saw the Lease: without this it would wait up to a lease duration longer.
   * The holder stopped running the shard by its renew deadline, before it expired on our clock.
   */
  private reapShards(leases: Map<string, Lease>, now: number): void {
    for (let shard = 0; shard < this.options.shards; shard++) {
      const name = this.shardName(shard);
      const lease = leases.get(name);
      if (this.owners[shard] === this.identity || this.held.has(shard) || !lease || this.reaping.has(name)) continue;
      if (this.cooling(name, now)) continue;
      if (!isHeld(lease.spec) || this.ours(lease)) continue;
      if (this.observation(name).expiresAt(lease.spec) + this.options.retryPeriodMs >= now) continue;
      this.reaping.add(name);
      this.track(this.reap(name, lease, false).finally(() => this.reaping.delete(name)));
    }
  }

  private async reap(name: string, lease: Lease, member = true): Promise<void> {
    const lock = this.lock(name, member);
    const what = member ? 'member Lease' : 'Lease';
    lock.assume(lease.metadata.resourceVersion);
    try {
      this.wrote(await lock.update(releasedRecord(lease.spec, new Date()), this.abort.signal));
      this.count(member ? 'member' : 'shard');
      this.logger.log(
        `${this.identity} released the ${what} ${name} of ${lease.spec.holderIdentity}: not renewed within its lease duration (${lease.spec.leaseDurationSeconds ?? 0} s)`,
      );
    } catch (err) {
      this.failed(`releasing the expired ${what} ${name}`, err, name);
    } finally {
      this.kick();
    }
  }

  private claimSlot(leases: Map<string, Lease>, now: number): void {
    // A refused claim (no RBAC for Leases, an apiserver failing) waits, whatever slot is next.
    if (this.cooling(CLAIM, now)) return;
    let chosen: { slot: number; lease?: Lease } | undefined;
    for (let slot = 0; slot < this.options.maxReplicas; slot++) {
      const lease = leases.get(this.memberName(slot));
      if (lease && this.ours(lease)) {
        chosen = { slot, lease };
        break;
      }
      if (!chosen && this.free(lease, now)) chosen = { slot, lease };
    }
    if (!chosen) {
      if (!this.warnedFull) {
        this.logger.warn(
          `all ${this.options.maxReplicas} member Leases are held: ${this.identity} waits for one (raise maxReplicas / MAX_REPLICAS)`,
        );
        this.warnedFull = true;
      }
      return;
    }
    this.claiming = true;
    const { slot, lease } = chosen;
    this.track(
      this.write(this.memberName(slot), true, lease)
        .then(({ record, sentAt }) => {
          this.warnedFull = false;
          this.member = { slot, renewedAt: sentAt, attemptedAt: sentAt, record, busy: false };
          this.logger.log(`${this.identity} joined as member ${this.memberName(slot)}`);
          if (this.leaving) return this.releaseMember();
        })
        .catch((err: unknown) => this.failed(`member Lease ${this.memberName(slot)}`, err, CLAIM))
        .finally(() => {
          this.claiming = false;
          this.kick();
        }),
    );
  }

  private async renewMember(member: Member): Promise<void> {
    member.busy = true;
    const sentAt = Date.now();
    member.attemptedAt = sentAt;
    try {
      const record = await this.renewLease(this.memberName(member.slot), true, member.record, sentAt);
      member.record = record;
      member.renewedAt = sentAt;
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) {
        // Someone else wrote our member Lease: it is not ours any more; claim a slot again.
        if (this.member === member) this.member = undefined;
        this.logger.warn(`${this.identity} lost its member Lease ${this.memberName(member.slot)}`);
      } else {
        this.failed(`member Lease ${this.memberName(member.slot)}`, err);
      }
    } finally {
      member.busy = false;
      this.kick();
    }
  }

  private async releaseMember(): Promise<void> {
    const member = this.member;
    if (!member) return;
    this.member = undefined;
    const name = this.memberName(member.slot);
    try {
      await this.lock(name, true).update(releasedRecord(member.record, new Date()), AbortSignal.timeout(5_000));
      this.count('member');
      this.logger.log(`${this.identity} released its member Lease ${name}`);
    } catch (err) {
      this.logger.warn(`could not release the member Lease ${name}: ${describeFailure(err)}`);
    }
  }

  private async acquire(shard: number, lease: Lease | undefined): Promise<void> {
    this.acquiring.add(shard);
    try {
      const { record, sentAt } = await this.write(this.shardName(shard), false, lease);
      const held: HeldShard = {
        shard,
        state: 'running',
        renewedAt: sentAt,
        attemptedAt: sentAt,
        record,
        stopped: false,
        busy: false,
      };
      this.held.set(shard, held);
      if (this.leaving || Date.now() >= sentAt + this.options.renewDeadlineMs) {
        // Too late to run anything on it (shutting down, or the answer took the whole deadline).
        held.state = 'releasing';
        held.stopped = true;
        return;
      }
      this.arm(held);
      this.metrics.handover(this.identity, 'acquired');
      this.logger.log(`${this.identity} acquired ${this.shardName(shard)}`);
      this.emit({ shard, owned: true });
    } catch (err) {
      this.failed(this.shardName(shard), err, this.shardName(shard));
    } finally {
      this.acquiring.delete(shard);
      this.kick();
    }
  }

  private async renew(held: HeldShard): Promise<void> {
    held.busy = true;
    const sentAt = Date.now();
    held.attemptedAt = sentAt;
    const name = this.shardName(held.shard);
    try {
      held.record = await this.renewLease(name, false, held.record, sentAt);
      held.renewedAt = sentAt;
      if (held.state === 'running') this.arm(held);
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) {
        // Written by someone else since our last write: it is not ours any more.
        this.logger.warn(`${this.identity} lost ${name}: it was written by another replica`);
        if (held.state === 'running') this.markReleasing(held, 'lost');
        this.forget(held);
      } else {
        this.failed(name, err);
      }
    } finally {
      held.busy = false;
    }
  }

  /** Stops running the shard: owns() is false from now on; its runtimes are stopped, and only
   * then may the Lease go (until then it is renewed, so nobody starts them meanwhile). */
  private markReleasing(held: HeldShard, why: 'released' | 'lost', stopRuntimes = true): void {
    if (held.state !== 'running') return;
    held.state = 'releasing';
    held.stopped = false;
    clearTimeout(held.deadline);
    this.metrics.handover(this.identity, why);
    this.logger.log(
      why === 'lost'
        ? `${this.identity} could not renew ${this.shardName(held.shard)} within ${this.options.renewDeadlineMs} ms: stopping its clusters`
        : `${this.identity} hands ${this.shardName(held.shard)} over: stopping its clusters`,
    );
    this.emit({ shard: held.shard, owned: false });
    if (!stopRuntimes) return;
    const { shards } = this.options;
    const stopping = this.hooks?.stopClusters?.((cluster) => shardOf(cluster, shards) === held.shard);
    void Promise.resolve(stopping)
      .catch((err: unknown) =>
        this.logger.error(`stopping the clusters of shard ${held.shard}: ${describeFailure(err)}`),
      )
      .finally(() => {
        held.stopped = true;
        this.kick();
      });
  }

  /** The deadline of a running shard: renewDeadline after the last successful renewal was sent. */
  private arm(held: HeldShard): void {
    clearTimeout(held.deadline);
    const left = held.renewedAt + this.options.renewDeadlineMs - Date.now();
    held.deadline = setTimeout(
      () => {
        if (this.held.get(held.shard) === held && held.state === 'running') this.markReleasing(held, 'lost');
      },
      Math.max(0, left),
    );
    held.deadline.unref();
  }

  /** Releases the Lease of a shard whose runtimes are stopped. */
  private async giveUp(held: HeldShard): Promise<void> {
    if (this.held.get(held.shard) !== held || held.busy) return;
    held.busy = true;
    held.attemptedAt = Date.now();
    const name = this.shardName(held.shard);
    try {
      await this.lock(name, false).update(releasedRecord(held.record, new Date()), AbortSignal.timeout(5_000));
      this.count('shard');
      this.logger.log(`${this.identity} released ${name}`);
      this.forget(held);
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) this.forget(held);
      else this.failed(`releasing ${name}`, err, name);
    } finally {
      held.busy = false;
      this.kick();
    }
  }

  private forget(held: HeldShard): void {
    clearTimeout(held.deadline);
    if (this.held.get(held.shard) === held) this.held.delete(held.shard);
  }

  /** Takes a free Lease (creating it when absent); resolves with what we wrote and when it was sent. */
  private async write(
    name: string,
    member: boolean,
    lease: Lease | undefined,
  ): Promise<{ record: LeaseRecord; sentAt: number }> {
    const lock = this.lock(name, member);
    const sentAt = Date.now();
    const record = claimRecord(lease?.spec, this.identity, this.options.leaseDurationMs, new Date(sentAt));
    let result: Lease;
    if (lease) {
      lock.assume(lease.metadata.resourceVersion);
      result = await lock.update(record, this.abort.signal);
    } else {
      result = await lock.create(record, this.abort.signal);
    }
    this.count(member ? 'member' : 'shard');
    this.wrote(result);
    return { record, sentAt };
  }

  /** Renews a Lease over our own last write (a 409 means someone else wrote it since). */
  private async renewLease(name: string, member: boolean, last: LeaseRecord, sentAt: number): Promise<LeaseRecord> {
    const record = claimRecord(last, this.identity, this.options.leaseDurationMs, new Date(sentAt));
    const lock = this.lock(name, member);
    let result: Lease;
    try {
      result = await lock.update(record, this.abort.signal);
    } catch (err) {
      // No answer, or a 5xx (an apiserver timing out on etcd): the write may still have committed.
      if (!(err instanceof KubeApiError) || err.status >= 500) this.unanswered.set(name, record);
      if (!(err instanceof KubeApiError && err.status === 409 && (await this.holdsUnanswered(name, lock)))) throw err;
      // The 409 was our own earlier write, committed after we gave up on it: go on from it.
      result = await lock.update(record, this.abort.signal);
    }
    this.unanswered.delete(name);
    this.count(member ? 'member' : 'shard');
    this.wrote(result);
    return record;
  }

  /**
   * Whether the Lease holds the last write of ours that got no answer, read now; if so the lock
   * takes its version. Without this, a renewal that committed after its request timed out made
   * the next one fail with 409 and the replica stop a shard (or, for its member Lease, all of
   * them) that nobody else had written. client-go's leader election reads before it writes for
   * the same reason.
   */
  private async holdsUnanswered(name: string, lock: LeaseLock): Promise<boolean> {
    const sent = this.unanswered.get(name);
    if (!sent) return false;
    const before = lock.resourceVersion;
    const current = await lock.get(this.abort.signal);
    if (current?.holderIdentity === this.identity && current.renewTime === sent.renewTime) return true;
    // Someone else's write: the next write must still fail on it.
    lock.assume(before);
    return false;
  }

  private wrote(lease: Lease): void {
    const name = lease.metadata.name;
    if (lease.metadata.resourceVersion) this.written.set(name, lease.metadata.resourceVersion);
    this.observation(name).see(lease.spec ?? {});
  }

  private count(kind: 'member' | 'shard'): void {
    this.writes[kind]++;
    this.metrics.leaseWrite(this.identity, kind);
  }

  /** A write that failed; `lease` (its name, or CLAIM) is not tried again for a retry period,
   * unless another replica was first (409, 404). */
  private failed(what: string, err: unknown, lease?: string): void {
    if (this.abort.signal.aborted) return;
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) {
      // Not a refusal: the next plan sees the winner once the watch brings it (replicas that
      // start together would otherwise join a retry period apart, one per slot).
      this.logger.debug(`${what}: another replica was first (${err.status})`);
      return;
    }
    if (lease !== undefined) this.coolingUntil.set(lease, Date.now() + this.options.retryPeriodMs);
    this.logger.warn(`${what}: ${describeFailure(err)}`);
  }

  private emit(change: Omit<OwnershipChange, 'includes'>): void {
    const { shards } = this.options;
    const full: OwnershipChange = { ...change, includes: (cluster) => shardOf(cluster, shards) === change.shard };
    for (const listener of this.listeners) {
      try {
        listener(full);
      } catch (err) {
        this.logger.error(`an ownership listener failed: ${describeFailure(err)}`);
      }
    }
  }
}
