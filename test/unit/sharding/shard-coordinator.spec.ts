import { jest } from '@jest/globals';
import { assign } from '../../../src/sharding/hash.js';
import { ShardCoordinator, SHARDING_LABEL, SHARDS_ANNOTATION } from '../../../src/sharding/shard-coordinator.js';
import { microTime } from '../../../src/lease/lease-lock.js';
import { settle } from '../../../src/testing/fake-transport.js';
import { T0, useFakeClock } from '../../support/clock.js';
import { LeaseApi, NS, type ReplicaLink } from '../../support/lease-api.js';
import { quietNestLogs } from '../../support/logger.js';

const SHARDS = 8;
const LEASE = 15_000;
const RENEW = 10_000;
const RETRY = 2_000;
const shardLease = (n: number): string => `clusterregistry-shard-${n}`;
const memberLease = (n: number): string => `clusterregistry-member-${n}`;
const now = (): number => Date.now() - T0;

/** One replica: a coordinator on its own link to the shared API, and what it was asked to do. */
class Replica {
  readonly coordinator: ShardCoordinator;
  readonly log: string[] = [];
  /** When set, stopClusters waits for this before resolving (runtimes slow to stop). */
  stopGate?: Promise<void>;

  constructor(
    readonly link: ReplicaLink,
    readonly name: string,
    options: { shards?: number } = {},
  ) {
    this.coordinator = new ShardCoordinator(link.client, {
      namespace: NS,
      identity: name,
      shards: options.shards ?? SHARDS,
      leaseDurationMs: LEASE,
      renewDeadlineMs: RENEW,
      retryPeriodMs: RETRY,
      maxReplicas: 4,
    });
    this.coordinator.onOwnershipChange((c) => this.log.push(`${c.owned ? '+' : '-'}${c.shard}@${now()}`));
  }

  start(): void {
    this.coordinator.start({
      activate: () => void this.log.push(`activate@${now()}`),
      deactivate: () => void this.log.push(`deactivate@${now()}`),
      stopClusters: async () => {
        this.log.push(`stopping@${now()}`);
        await this.stopGate;
        this.log.push(`stopped@${now()}`);
      },
    });
  }

  get running(): number[] {
    return this.coordinator.status().running;
  }
}

describe('ShardCoordinator', () => {
  let api: LeaseApi;
  let replicas: Replica[];

  quietNestLogs();

  beforeEach(() => {
    useFakeClock();
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    api = new LeaseApi(T0);
    replicas = [];
  });

  afterEach(async () => {
    for (const r of replicas) r.link.partition(false);
    await Promise.all(replicas.map((r) => r.coordinator.stop()));
    await settle();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  function replica(name: string, options: { shards?: number } = {}): Replica {
    const r = new Replica(api.link(name), name, options);
    replicas.push(r);
    r.start();
    return r;
  }

  /** No shard runs on two replicas at once: checked after every timer and every I/O step. */
  function fenced(): void {
    const seen = new Map<number, string>();
    for (const r of replicas) {
      for (const shard of r.running) {
        const other = seen.get(shard);
        if (other) throw new Error(`shard ${shard} runs on ${other} and ${r.name} at ${now()} ms`);
        seen.set(shard, r.name);
      }
    }
  }

  /** Moves the fake clock by `ms`, timer by timer, letting the I/O each step starts finish and
   * checking the fence after every step. */
  async function run(ms: number): Promise<void> {
    const target = Date.now() + ms;
    const sentinel = setTimeout(() => undefined, ms);
    for (;;) {
      await settle();
      fenced();
      if (Date.now() >= target) break;
      jest.advanceTimersToNextTimer();
    }
    clearTimeout(sentinel);
  }

  /** shard -> holder, from the API. */
  const holders = (): (string | null | undefined)[] =>
    Array.from({ length: SHARDS }, (_, s) => api.holder(shardLease(s)));

  it('alone, takes every shard at once and then writes one Lease per shard and one member Lease per retry period', async () => {
    const a = replica('a');
    await run(0);
    expect(a.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(api.holder(memberLease(0))).toBe('a');
    expect(api.leases.get(memberLease(0))!.metadata.annotations).toEqual({ [SHARDS_ANNOTATION]: '8' });
    expect(api.leases.get(shardLease(3))!.metadata.labels).toEqual({ [SHARDING_LABEL]: 'clusterregistry' });
    expect(a.log).toEqual(['activate@0', ...Array.from({ length: SHARDS }, (_, s) => `+${s}@0`)]);

    const before = api.writes.length;
    await run(60_000);
    // Whatever the number of clusters: (shards + members) writes per retry period.
    expect(api.writes.length - before).toBe((60_000 / RETRY) * (SHARDS + 1));
    expect(a.coordinator.status().writes).toEqual({ member: 31, shard: 31 * SHARDS });
  });

  describe('a refused write (no RBAC for Leases, an apiserver failing fast) is tried again a retry period later, not at once', () => {
    const shardWrite = (lease: string): boolean => lease.startsWith('clusterregistry-shard-');

    it('but not a conflict: replicas that start together all join at once', async () => {
      for (const name of ['a', 'b', 'c', 'd']) replica(name);
      await run(0);
      expect([0, 1, 2, 3].map((slot) => api.holder(memberLease(slot))).sort()).toEqual(['a', 'b', 'c', 'd']);
    });

    it('the member claim', async () => {
      const link = api.link('a');
      link.refuseWrites = () => true;
      const a = new Replica(link, 'a');
      replicas.push(a);
      a.start();
      await run(10_000);
      // At 0, 2, 4, 6, 8 and 10 s, whatever slot is free; nothing else before joining.
      expect(link.writesSent).toBe(6);
      expect(a.running).toEqual([]);

      link.refuseWrites = () => false;
      await run(RETRY);
      expect(api.holder(memberLease(0))).toBe('a');
      expect(a.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    });

    it('acquiring a shard', async () => {
      const link = api.link('a');
      link.refuseWrites = shardWrite;
      const a = new Replica(link, 'a');
      replicas.push(a);
      a.start();
      await run(10_000);
      // The member Lease at 0 and renewed every 2 s; each shard tried at 0, 2, 4, 6, 8 and 10 s.
      expect(link.writesSent).toBe(6 + 6 * SHARDS);
      expect(a.running).toEqual([]);
    });

    it('handing a shard over', async () => {
      const a = replica('a');
      await run(0);
      expect(a.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      a.link.refuseWrites = shardWrite;
      const sent = a.link.writesSent;
      const b = replica('b');
      await run(6_000);
      // a stops running b's share at once and gives its Leases up: refused, and tried once per
      // retry period, like the renewals of its own share and of its member Lease.
      const handed = b.coordinator.status().waiting.length;
      expect(handed).toBeGreaterThan(0);
      expect(a.running.length).toBe(SHARDS - handed);
      expect(a.link.writesSent - sent).toBeLessThanOrEqual(4 * (SHARDS + 1));
    });
  });

  it('three replicas split the shards by rendezvous hashing, one owner per shard', async () => {
    const [a, b, c] = [replica('a'), replica('b'), replica('c')];
    // Each starts alone for a moment (it may take shards before it sees the others), then hands
    // over what rendezvous gives another: stop first, release after.
    await run(60_000);
    const owners = assign(['a', 'b', 'c'], SHARDS);
    expect(holders()).toEqual(owners);
    for (const r of [a, b, c]) {
      expect(r.running).toEqual(owners.flatMap((o, s) => (o === r.name ? [s] : [])));
      expect(r.coordinator.status().members).toEqual(['a', 'b', 'c']);
    }
  });

  it('a fourth replica joining takes only its share: no shard moves between the others', async () => {
    replica('a');
    replica('b');
    replica('c');
    await run(30_000);
    const before = holders();
    const d = replica('d');
    await run(30_000);
    const after = holders();
    const expected = assign(['a', 'b', 'c', 'd'], SHARDS);
    expect(after).toEqual(expected);
    const moved = after.flatMap((h, s) => (h !== before[s] ? [s] : []));
    expect(moved.length).toBeGreaterThan(0);
    for (const s of moved) expect(after[s]).toBe('d');
    expect(d.running).toEqual(moved);
  });

  it('a replica that starts after another died counts the same members as the others: the dead one’s member Lease was released', async () => {
    const a = replica('a');
    await run(1);
    replica('b');
    replica('c');
    await run(30_000);
    const aSlot = a.coordinator.status().slot!;
    // a dies: nothing of it reaches the API any more.
    a.link.partition(true);
    await run(LEASE + 2 * RETRY);
    // b or c saw a's member Lease expire on its clock and released it (once: the other got 409).
    expect(api.holder(memberLease(aSlot))).toBeFalsy();
    expect(holders()).toEqual(assign(['b', 'c'], SHARDS));

    // A newcomer judges expiry from when it first sees a Lease: a's, still held, would count as
    // a member for a lease duration, and the shards b and c hand d would stay untaken meanwhile.
    const d = replica('d');
    await run(2 * RETRY);
    expect(d.coordinator.status().members).toEqual(['b', 'c', 'd']);
    expect(holders()).toEqual(assign(['b', 'c', 'd'], SHARDS));
    expect(d.coordinator.status().slot).toBe(aSlot);
  });

  it('a replica that joined just after another died takes the dead one’s shards when the others see them expire, not a lease duration after it first saw them', async () => {
    const a = replica('a');
    await run(1);
    replica('b');
    replica('c');
    await run(30_000);
    const aShards = [...a.running];
    expect(aShards.length).toBeGreaterThan(0);
    const lastRenewal = Math.max(...api.writes.filter((w) => w.replica === 'a').map((w) => w.at));
    a.link.partition(true);
    // d starts half a lease duration later: it first sees a's Leases then, still held.
    await run(lastRenewal + LEASE / 2 - now());
    const d = replica('d');
    // b and c see a's Leases expire a lease duration after its last renewal; d would only half
    // a lease duration later. Once they do, every shard has its owner among b, c and d.
    await run(lastRenewal + LEASE + 2 * RETRY - now());
    expect(d.coordinator.status().members).toEqual(['b', 'c', 'd']);
    expect(holders()).toEqual(assign(['b', 'c', 'd'], SHARDS));
    // Exactly a's shards that went to d were released (b and c took their own at expiry), each
    // once (the other replica got 409), by b or c.
    const toD = aShards.filter((s) => assign(['b', 'c', 'd'], SHARDS)[s] === 'd').map(shardLease);
    expect(toD.length).toBeGreaterThan(0);
    const released = api.writes.filter((w) => aShards.some((s) => w.name === shardLease(s)) && !w.holder);
    expect(released.map((w) => w.name).sort()).toEqual(toD.sort());
    expect(released.every((w) => w.replica === 'b' || w.replica === 'c')).toBe(true);
  });

  it('a renewal that committed after its request timed out is not taken for another replica’s write', async () => {
    const a = replica('a');
    await run(1);
    expect(a.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // One renewal of a shard Lease and one of the member Lease commit, and their answers are lost.
    const lost = new Set<string>();
    a.link.loseAnswers = (lease) => {
      if (lost.has(lease) || (lease !== shardLease(3) && lease !== memberLease(0))) return false;
      lost.add(lease);
      return true;
    };
    await run(60_000);
    expect([...lost].sort()).toEqual([memberLease(0), shardLease(3)]);
    expect(a.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(a.log.filter((line) => !line.startsWith('+') && line !== 'activate@0')).toEqual([]);
    expect(holders()).toEqual(Array.from({ length: SHARDS }, () => 'a'));
    expect(api.holder(memberLease(0))).toBe('a');
  });

  it('a partitioned replica stops its shards within the renew deadline; the others take them only after the lease duration on their own clock', async () => {
    const a = replica('a');
    await run(1);
    const b = replica('b');
    await run(20_000);
    const aShards = [...a.running];
    expect(aShards.length).toBeGreaterThan(0);
    const lastRenewal = Math.max(...api.writes.filter((w) => w.replica === 'a').map((w) => w.at));

    a.link.partition(true);
    // a's renewals fail; it stops running within renewDeadline of its last renewal being sent.
    await run(RENEW - (now() - lastRenewal) - 1);
    expect(a.running).toEqual(aShards);
    await run(2);
    expect(a.running).toEqual([]);
    const stoppedAt = now();

    // b saw a's last renewal when it was written: it takes the shards leaseDuration after that
    // (plus the event-loop turn of its plan), not before; the fence is checked at every step.
    await run(lastRenewal + LEASE - now() - 1);
    expect(aShards.every((s) => api.holder(shardLease(s)) === 'a')).toBe(true);
    await run(RETRY);
    expect(b.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const takenAt = Math.min(
      ...api.writes.filter((w) => w.replica === 'b' && aShards.some((s) => w.name === shardLease(s))).map((w) => w.at),
    );
    expect(stoppedAt).toBeLessThanOrEqual(lastRenewal + RENEW + 1);
    expect(takenAt).toBeGreaterThan(lastRenewal + LEASE);
    expect(takenAt).toBeLessThanOrEqual(lastRenewal + LEASE + 2);

    // a comes back: it joins again and takes its share back, by handover.
    a.link.partition(false);
    await run(60_000);
    expect(holders()).toEqual(assign(['a', 'b'], SHARDS));
  });

  it('on stop, releases its member Lease, stops every runtime, then releases its shards; the others take them at once', async () => {
    const a = replica('a');
    await run(1);
    const b = replica('b');
    await run(20_000);
    const aShards = [...a.running];
    expect(aShards.length).toBeGreaterThan(0);
    const stopAt = now();
    const from = api.writes.length;
    await a.coordinator.stop();
    expect(a.log.slice(-1)).toEqual([`deactivate@${stopAt}`]);
    const aWrites = api.writes.slice(from);
    expect(aWrites[0]).toEqual({ replica: 'a', name: memberLease(0), holder: null, at: stopAt });
    expect(
      aWrites
        .slice(1)
        .map((w) => w.name)
        .sort(),
    ).toEqual(aShards.map(shardLease).sort());
    expect(aWrites.every((w) => w.holder === null)).toBe(true);
    await run(1);
    expect(b.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    replicas = replicas.filter((r) => r !== a);
  });

  it('hands a shard over only once its runtimes have stopped, renewing its Lease meanwhile', async () => {
    const a = replica('a');
    await run(1);
    let release!: () => void;
    a.stopGate = new Promise((resolve) => (release = resolve));
    const b = replica('b');
    // b joins; a must hand over b's share, but its runtimes take 40 s (> leaseDuration) to stop.
    await run(40_000);
    const bShards = assign(['a', 'b'], SHARDS).flatMap((o, s) => (o === 'b' ? [s] : []));
    expect(a.coordinator.status().releasing).toEqual(bShards);
    expect(b.running).toEqual([]);
    for (const s of bShards) expect(api.holder(shardLease(s))).toBe('a');
    expect(api.writes.filter((w) => w.replica === 'a' && w.name === shardLease(bShards[0]!)).length).toBeGreaterThan(
      15,
    );
    release();
    await run(1);
    expect(b.running).toEqual(bShards);
    expect(a.coordinator.status().releasing).toEqual([]);
  });

  it('a new process with the same identity waits for the old one’s Leases to expire', async () => {
    const labels = { [SHARDING_LABEL]: 'clusterregistry' };
    const old = { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: microTime(new Date(T0)) };
    api.put(memberLease(0), old, labels, { [SHARDS_ANNOTATION]: '8' });
    for (let s = 0; s < SHARDS; s++) api.put(shardLease(s), old, labels);
    const a = replica('a');
    await run(LEASE);
    expect(a.running).toEqual([]);
    expect(api.holder(memberLease(1))).toBe('a'); // it joined in another slot at once
    await run(RETRY);
    expect(a.running).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('takes no shard while a live member uses another shard count', async () => {
    const a = replica('a');
    const b = replica('b', { shards: 16 });
    await run(30_000);
    const counts = [a, b].map((r) => r.running.length + r.coordinator.status().releasing.length);
    // Whoever joined first may have taken shards before it saw the other; nothing more after.
    expect(a.coordinator.status().mixedShardCounts).toBe(true);
    expect(b.coordinator.status().mixedShardCounts).toBe(true);
    const writes = api.writes.length;
    await run(10_000);
    expect(api.writes.filter((w) => w.at > now() - 10_000 && w.holder !== 'a' && w.holder !== 'b')).toEqual([]);
    expect([a, b].map((r) => r.running.length + r.coordinator.status().releasing.length)).toEqual(counts);
    expect(api.writes.length).toBeGreaterThan(writes);
  });
});
