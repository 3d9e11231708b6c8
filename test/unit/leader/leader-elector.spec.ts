import { jest } from '@jest/globals';
import { LeaderElector } from '../../../src/leader/leader-elector.js';
import { LeaseLock, microTime, type LeaseRecord } from '../../../src/leader/lease-lock.js';
import { advance, T0, useFakeClock } from '../../support/clock.js';
import {
  FakeTransport,
  HANG,
  json,
  settle,
  status,
  until,
  type RecordedRequest,
} from '../../../src/testing/fake-transport.js';
import { quietNestLogs } from '../../support/logger.js';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/ns/leases';
const LEASE = `${LEASES}/lock`;
const at = (ms: number): string => microTime(new Date(T0 + ms));

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: LeaseRecord;
}

/** The Lease API of one apiserver, with optimistic concurrency, on the fake transport. */
class LeaseApi {
  lease?: Lease;
  /** Every answer is a 500 while set. */
  down = false;
  /** No request is answered while set (an apiserver that accepts and never replies). */
  hung = false;
  /** Runs before the next create or update is applied (another replica racing us). */
  race?: () => void;
  private rv = 0;

  constructor(
    fake: FakeTransport,
    private readonly log: string[],
  ) {
    fake.on('GET', LEASE, () => this.answer(() => (this.lease ? json(200, this.lease) : status(404, 'NotFound'))));
    fake.on('POST', LEASES, (req) =>
      this.answer(() => {
        this.runRace();
        if (this.lease) return status(409, 'AlreadyExists', 'leases.coordination.k8s.io "lock" already exists');
        this.log.push(`create ${holder(req)}`);
        return json(201, this.store(specOf(req)));
      }),
    );
    fake.on('PUT', LEASE, (req) =>
      this.answer(() => {
        this.runRace();
        const sentVersion = (req.body as Lease).metadata.resourceVersion;
        if (sentVersion !== this.lease?.metadata.resourceVersion) {
          return status(
            409,
            'Conflict',
            'the object has been modified; please apply your changes to the latest version',
          );
        }
        this.log.push(`update ${holder(req)}`);
        return json(200, this.store(specOf(req)));
      }),
    );
  }

  /** Another replica writes the record. */
  write(spec: LeaseRecord): void {
    this.store(spec);
  }

  private store(spec: LeaseRecord): Lease {
    this.lease = { metadata: { name: 'lock', namespace: 'ns', resourceVersion: String(++this.rv) }, spec };
    return this.lease;
  }

  private runRace(): void {
    const race = this.race;
    this.race = undefined;
    race?.();
  }

  private answer(fn: () => ReturnType<typeof json>): ReturnType<typeof json> | typeof HANG {
    if (this.hung) return HANG;
    return this.down ? status(500, 'InternalError', 'etcd is gone') : fn();
  }
}

const specOf = (req: RecordedRequest): LeaseRecord => (req.body as Lease).spec;
const holder = (req: RecordedRequest): string => String(specOf(req).holderIdentity);

const other = (renewMs: number, extra: LeaseRecord = {}): LeaseRecord => ({
  holderIdentity: 'other',
  leaseDurationSeconds: 15,
  acquireTime: at(-60_000),
  renewTime: at(renewMs),
  leaseTransitions: 3,
  ...extra,
});

describe('LeaderElector', () => {
  let fake: FakeTransport;
  let api: LeaseApi;
  let log: string[];
  let elector: LeaderElector | undefined;

  quietNestLogs();
  beforeEach(() => {
    useFakeClock();
    jest.spyOn(Math, 'random').mockReturnValue(0); // no jitter on the candidate's retry period
    fake = new FakeTransport();
    log = [];
    api = new LeaseApi(fake, log);
  });
  afterEach(async () => {
    await elector?.stop();
    elector = undefined;
    await settle();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** Starts an elector for "me" (lease 15 s, renew deadline 10 s, retry period 2 s) and lets its
   * first attempt run. */
  async function start(): Promise<LeaderElector> {
    elector = new LeaderElector(
      new LeaseLock(fake.client(), 'ns', 'lock'),
      { identity: 'me', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      {
        onStartedLeading: () => void log.push(`started@${Date.now() - T0}`),
        onStoppedLeading: () => void log.push(`stopped@${Date.now() - T0}`),
      },
    );
    elector.start();
    await settle();
    return elector;
  }

  /** "METHOD@ms" of every Lease request. */
  const calls = (): string[] => fake.requests.map((r) => `${r.method}@${r.at - T0}`);

  it('takes a free Lease at once and renews it every retry period, keeping acquireTime', async () => {
    const e = await start();
    await until(() => e.isLeader, 'leadership');
    expect(api.lease!.spec).toEqual({
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: at(0),
      renewTime: at(0),
      leaseTransitions: 0,
    });

    await advance(1_999);
    expect(calls()).toEqual(['GET@0', 'POST@0']);
    await advance(1);
    await advance(2_000);
    expect(calls()).toEqual(['GET@0', 'POST@0', 'GET@2000', 'PUT@2000', 'GET@4000', 'PUT@4000']);
    expect(api.lease!.spec).toEqual({
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: at(0),
      renewTime: at(4000),
      leaseTransitions: 0,
    });
    expect(log).toEqual(['create me', 'started@0', 'update me', 'update me']);
  });

  it('stays standby while another holder renews, however long', async () => {
    api.write(other(0));
    const e = await start();
    for (let t = 1_000; t < 120_000; t += 2_000) {
      await advance(1_000);
      api.write(other(t)); // renewed between two of our attempts
      await advance(1_000);
    }
    expect(e.isLeader).toBe(false);
    expect(fake.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(fake.requests.length).toBe(61);
    expect(log).toEqual([]);
  });

  it.each([
    ['renewed long ago', at(-3_600_000)],
    ['renewed in the future (a skewed clock)', at(3_600_000)],
  ])(
    'takes over a Lease %s only leaseDuration after it first saw the record, on its own clock',
    async (_, renewTime) => {
      api.write(other(0, { renewTime }));
      const e = await start();
      // Attempts every 2 s; expired once more than 15 s passed since the record was first seen (at 0).
      await advance(14_000);
      await advance(1_999);
      expect(e.isLeader).toBe(false);
      expect(fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
      await advance(1);
      expect(e.isLeader).toBe(true);
      expect(calls().slice(-2)).toEqual(['GET@16000', 'PUT@16000']);
      expect(api.lease!.spec).toEqual({
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: at(16_000),
        renewTime: at(16_000),
        leaseTransitions: 4,
      });
      expect(log).toEqual(['update me', 'started@16000']);
    },
  );

  it('measures leaseDuration from when it saw the record change, not from the first sighting', async () => {
    api.write(other(0));
    const e = await start();
    await advance(3_000);
    api.write(other(3_000)); // the holder's last renewal, seen by our attempt at 4 s
    await advance(1_000);
    await advance(15_000); // 19 s: exactly leaseDuration after 4 s, not more
    expect(e.isLeader).toBe(false);
    await advance(1_000);
    expect(e.isLeader).toBe(true);
    expect(calls().filter((c) => !c.startsWith('GET'))).toEqual(['PUT@20000']);
  });

  it('gives up leadership when it could not renew for longer than the renew deadline, then competes again', async () => {
    const e = await start();
    await until(() => e.isLeader, 'leadership');
    api.down = true;
    // Renewals at 2, 4, …, 10 s fail; 10 s since the last renewal is not yet more than the deadline.
    await advance(10_000);
    await advance(1_999);
    expect(e.isLeader).toBe(true);
    await advance(1);
    expect(e.isLeader).toBe(false);
    expect(log).toEqual(['create me', 'started@0', 'stopped@12000']);

    // Still the holder in the record: as soon as the API answers again it leads again.
    api.down = false;
    await advance(2_000);
    expect(e.isLeader).toBe(true);
    expect(log).toEqual(['create me', 'started@0', 'stopped@12000', 'update me', 'started@14000']);
  });

  it('stops leading a retry period plus the renew deadline after its last renewal even while a renewal hangs, before the Lease can expire for others', async () => {
    const e = await start();
    await until(() => e.isLeader, 'leadership');
    api.hung = true;
    // The renewal at 2 s times out at 7 s; the one at 9 s would wait for its request until 14 s.
    await advance(11_999);
    expect(e.isLeader).toBe(true);
    await advance(1);
    expect(e.isLeader).toBe(false);
    expect(log).toEqual(['create me', 'started@0', 'stopped@12000']);
  });

  it('renews while onStartedLeading runs, however long it takes', async () => {
    elector = new LeaderElector(
      new LeaseLock(fake.client(), 'ns', 'lock'),
      { identity: 'me', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      {
        // A start that takes 20 s (the renew deadline is 10 s).
        onStartedLeading: () =>
          new Promise<void>((resolve) => setTimeout(resolve, 20_000)).then(
            () => void log.push(`started@${Date.now() - T0}`),
          ),
        onStoppedLeading: () => void log.push(`stopped@${Date.now() - T0}`),
      },
    );
    elector.start();
    await settle();
    await advance(30_000);
    expect(elector.isLeader).toBe(true);
    // Renewed at 2, 4, … 18 s while it ran (the timer of its end comes first at 20 s), and on.
    expect(log).toEqual([
      'create me',
      ...Array.from({ length: 9 }, () => 'update me'),
      'started@20000',
      ...Array.from({ length: 6 }, () => 'update me'),
    ]);
  });

  it('keeps leading through failed renewals shorter than the renew deadline', async () => {
    const e = await start();
    await until(() => e.isLeader, 'leadership');
    api.down = true;
    await advance(2_000);
    await advance(2_000);
    await advance(2_000);
    await advance(2_000);
    api.down = false;
    await advance(2_000); // 10 s after the last renewal: renewed just in time
    await advance(30_000);
    expect(e.isLeader).toBe(true);
    expect(log).toEqual(['create me', 'started@0', ...Array.from({ length: 16 }, () => 'update me')]);
  });

  it('on stop, calls onStoppedLeading and then releases the Lease so a standby need not wait', async () => {
    const e = await start();
    await until(() => e.isLeader, 'leadership');
    await advance(5_000);
    await e.stop();
    elector = undefined;

    expect(e.isLeader).toBe(false);
    expect(log).toEqual(['create me', 'started@0', 'update me', 'update me', 'stopped@5000', 'update null']);
    expect(api.lease!.spec).toEqual({
      holderIdentity: null,
      leaseDurationSeconds: 1,
      acquireTime: at(0),
      renewTime: at(5_000),
      leaseTransitions: 0,
    });
    await advance(60_000);
    expect(fake.requests.length).toBe(8); // nothing after the release
  });

  it('on stop as a standby, leaves the Lease alone and calls no callback', async () => {
    api.write(other(0));
    const e = await start();
    await advance(4_000);
    await e.stop();
    elector = undefined;
    expect(log).toEqual([]);
    expect(api.lease!.spec.holderIdentity).toBe('other');
    expect(fake.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'GET']);
  });

  it('does not lead when another replica creates the Lease first (409 on create)', async () => {
    api.race = () => api.write(other(0));
    const e = await start();
    await until(() => fake.requests.length === 2);
    await settle();
    expect(e.isLeader).toBe(false);
    await advance(14_000);
    expect(e.isLeader).toBe(false);
    expect(log).toEqual([]);
    expect(calls().slice(0, 3)).toEqual(['GET@0', 'POST@0', 'GET@2000']);
  });

  it('does not lead when another replica takes the expired Lease first (409 on update), and waits for the new holder', async () => {
    api.write(other(0));
    const e = await start();
    await advance(14_000);
    api.race = () => api.write({ ...other(16_000), holderIdentity: 'third', leaseTransitions: 4 });
    await advance(2_000); // our update at 16 s loses the race
    expect(e.isLeader).toBe(false);
    expect(calls().slice(-2)).toEqual(['GET@16000', 'PUT@16000']);

    // The new record was first seen at 18 s: the first attempt after 18 + 15 s takes it, at 34 s.
    await advance(16_000);
    expect(e.isLeader).toBe(false);
    expect(calls().filter((c) => c.startsWith('PUT'))).toEqual(['PUT@16000']);
    await advance(2_000);
    expect(e.isLeader).toBe(true);
    expect(calls().filter((c) => c.startsWith('PUT'))).toEqual(['PUT@16000', 'PUT@34000']);
    expect(api.lease!.spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 5 });
    expect(log).toEqual(['update me', 'started@34000']);
  });
});
