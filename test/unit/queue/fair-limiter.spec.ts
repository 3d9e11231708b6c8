import { getEventListeners } from 'node:events';
import { FairLimiter } from '../../../src/queue/fair-limiter.js';
import { isSettled } from '../../support/promises.js';

describe('FairLimiter', () => {
  it('never lets more than the limit in, and passes a freed slot on', async () => {
    const limiter = new FairLimiter(2);
    const r1 = await limiter.acquire('a');
    await limiter.acquire('a');
    const third = limiter.acquire('b');
    expect(await isSettled(third)).toBe(false);
    expect(limiter.inFlight).toBe(2);
    expect(limiter.waiting()).toBe(1);
    expect(limiter.waiting('b')).toBe(1);
    r1();
    await third;
    expect(limiter.inFlight).toBe(2);
    expect(limiter.waiting()).toBe(0);
    expect(limiter.limit).toBe(2);
  });

  it('makes release idempotent', async () => {
    const limiter = new FairLimiter(1);
    const release = await limiter.acquire('a');
    const w1 = limiter.acquire('a');
    const w2 = limiter.acquire('a');
    release();
    release();
    await w1;
    // The second release() must not have handed out a second slot.
    expect(await isSettled(w2)).toBe(false);
    expect(limiter.inFlight).toBe(1);
    (await w1)();
    (await w2)();
    expect(limiter.inFlight).toBe(0);
    const again = await limiter.acquire('a');
    again();
    again();
    expect(limiter.inFlight).toBe(0);
  });

  it('serves a tenant with one waiter within one round of a tenant with 10,000', async () => {
    const limiter = new FairLimiter(1);
    const holder = await limiter.acquire('busy');
    const grants: string[] = [];
    const all: Promise<void>[] = [];
    const wait = (tenant: string, label: string) =>
      all.push(
        limiter.acquire(tenant).then((release) => {
          grants.push(label);
          release();
        }),
      );
    for (let i = 0; i < 10_000; i++) wait('busy', `busy-${i}`);
    wait('quiet', 'quiet');
    expect(limiter.waiting('busy')).toBe(10_000);
    holder();
    await Promise.all(all);
    expect(grants.indexOf('quiet')).toBeLessThanOrEqual(1);
    // FIFO within the busy tenant.
    const busy = grants.filter((g) => g !== 'quiet');
    expect(busy).toEqual(Array.from({ length: 10_000 }, (_, i) => `busy-${i}`));
    expect(limiter.inFlight).toBe(0);
  });

  it('rotates round-robin across tenants that wait', async () => {
    const limiter = new FairLimiter(1);
    const holder = await limiter.acquire('x');
    const grants: string[] = [];
    const all: Promise<void>[] = [];
    for (const tenant of ['a', 'a', 'a', 'b', 'b', 'c']) {
      all.push(
        limiter.acquire(tenant).then((release) => {
          grants.push(tenant);
          release();
        }),
      );
    }
    holder();
    await Promise.all(all);
    expect(grants).toEqual(['a', 'b', 'c', 'a', 'b', 'a']);
  });

  it('rejects a waiter whose signal aborts, and removes it', async () => {
    const limiter = new FairLimiter(1);
    const holder = await limiter.acquire('a');
    const ac = new AbortController();
    const waiting = limiter.acquire('b', ac.signal);
    const reason = new Error('cluster going away');
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(limiter.waiting('b')).toBe(0);
    expect(limiter.waiting()).toBe(0);
    holder();
    // The slot went back to the pool, not to the aborted waiter.
    expect(limiter.inFlight).toBe(0);
    await expect(limiter.acquire('b', AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(limiter.inFlight).toBe(0);
  });

  it('ignores an abort after the slot was granted', async () => {
    const limiter = new FairLimiter(1);
    const ac = new AbortController();
    const release = await limiter.acquire('a', ac.signal);
    ac.abort();
    expect(limiter.inFlight).toBe(1);
    release();
    expect(limiter.inFlight).toBe(0);
  });

  it('dropTenant rejects only that tenant and keeps serving the others', async () => {
    const limiter = new FairLimiter(1);
    const holder = await limiter.acquire('a');
    const a1 = limiter.acquire('a');
    const a2 = limiter.acquire('a');
    const b = limiter.acquire('b');
    limiter.dropTenant('a');
    await expect(a1).rejects.toThrow(/tenant a dropped/);
    await expect(a2).rejects.toThrow(/tenant a dropped/);
    expect(limiter.waiting()).toBe(1);
    expect(limiter.waiting('a')).toBe(0);
    holder();
    (await b)();
    expect(limiter.inFlight).toBe(0);

    const reason = new Error('stopping');
    const h = await limiter.acquire('c');
    const c = limiter.acquire('c');
    limiter.dropTenant('c', reason);
    await expect(c).rejects.toBe(reason);
    limiter.dropTenant('nobody');
    h();
    expect(limiter.inFlight).toBe(0);
  });

  it('removes its abort listener once a waiter is served or dropped', async () => {
    const limiter = new FairLimiter(1);
    const ac = new AbortController();
    const holder = await limiter.acquire('a', ac.signal);
    // Granted at once: no listener was needed.
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    const served = limiter.acquire('a', ac.signal);
    const dropped = limiter.acquire('b', ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(2);
    holder();
    const release = await served;
    limiter.dropTenant('b');
    await expect(dropped).rejects.toThrow(/dropped/);
    release();
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('rejects a limit that is not a positive integer, and a reserve outside 0 .. limit - 1', () => {
    expect(() => new FairLimiter(0)).toThrow(RangeError);
    expect(() => new FairLimiter(1.5)).toThrow(RangeError);
    expect(() => new FairLimiter(4, { reserve: 4 })).toThrow(RangeError);
    expect(() => new FairLimiter(4, { reserve: -1 })).toThrow(RangeError);
    expect(() => new FairLimiter(4, { reserve: 0.5 })).toThrow(RangeError);
  });

  it('reserves a quarter of the limit from any one tenant by default (none below 4)', () => {
    expect(new FairLimiter(64).reserve).toBe(16);
    expect(new FairLimiter(16).reserve).toBe(4);
    expect(new FairLimiter(3).reserve).toBe(0);
    expect(new FairLimiter(3, { reserve: 2 }).reserve).toBe(2);
  });

  it('keeps the reserved slots from a flooding tenant, so another finds one at once', async () => {
    const limiter = new FairLimiter(4, { reserve: 2 });
    const flood = [await limiter.acquire('flood'), await limiter.acquire('flood')];
    const third = limiter.acquire('flood');
    // Two slots are free, but the flood holds its cap of 2: it waits.
    expect(await isSettled(third)).toBe(false);
    expect(limiter.inFlight).toBe(2);
    // Newcomers take the reserved slots without waiting for a turn.
    const a = await limiter.acquire('a');
    const b = await limiter.acquire('b');
    expect(limiter.inFlight).toBe(4);
    // A newcomer beyond the limit waits in the round like anyone.
    const c = limiter.acquire('c');
    expect(await isSettled(c)).toBe(false);
    // A freed reserved slot goes to the next eligible tenant in the round: not the capped flood.
    a();
    const releaseC = await c;
    expect(await isSettled(third)).toBe(false);
    // Once the flood gives one of its own slots back, its waiter is served.
    flood[0]!();
    const releaseThird = await third;
    expect(limiter.inFlight).toBe(4);
    // A slot nobody waiting may take stays free for the next newcomer.
    const fourth = limiter.acquire('flood');
    b();
    expect(limiter.inFlight).toBe(3);
    expect(await isSettled(fourth)).toBe(false);
    await limiter.acquire('d');
    expect(limiter.inFlight).toBe(4);
    releaseC();
    expect(await isSettled(fourth)).toBe(false);
    releaseThird();
    (await fourth)();
    flood[1]!();
    expect(limiter.waiting()).toBe(0);
  });

  it('lets one tenant alone use limit - reserve slots, and all of them with reserve 0', async () => {
    const capped = new FairLimiter(8);
    const taken = await Promise.all(Array.from({ length: 6 }, () => capped.acquire('only')));
    const seventh = capped.acquire('only');
    expect(await isSettled(seventh)).toBe(false);
    taken[0]!();
    await seventh;
    const open = new FairLimiter(8, { reserve: 0 });
    await Promise.all(Array.from({ length: 8 }, () => open.acquire('only')));
    expect(open.inFlight).toBe(8);
  });

  describe('recent demand', () => {
    /** A limiter on a clock the test moves. */
    const onClock = (limit: number, reserve = 0) => {
      let now = 0;
      const limiter = new FairLimiter(limit, { reserve, windowMs: 1_000, now: () => now });
      return { limiter, advance: (ms: number) => void (now += ms) };
    };
    const take = (limiter: FairLimiter, tenant: string, n: number) =>
      Promise.all(Array.from({ length: n }, () => limiter.acquire(tenant)));

    it('keeps free the slots a quiet tenant used in the last window, from a tenant beyond its fair share', async () => {
      const { limiter, advance } = onClock(8);
      const flood = await take(limiter, 'flood', 6);
      const quiet = await take(limiter, 'quiet', 2);
      quiet.forEach((release) => release());
      advance(1_000);
      // Two tenants held slots in the last window: a fair share is 4. The flood holds 6, so it
      // may borrow only slots the quiet one's recent demand (2) does not need.
      expect(limiter.keptFree('flood')).toBe(2);
      const seventh = limiter.acquire('flood');
      expect(await isSettled(seventh)).toBe(false);
      expect(limiter.inFlight).toBe(6);
      // The quiet tenant's next changes find their slots at once.
      const again = await take(limiter, 'quiet', 2);
      expect(limiter.inFlight).toBe(8);
      // A slot the flood gives back goes to its own waiter.
      flood[0]!();
      await seventh;
      again.forEach((release) => release());
      // Still within the quiet tenant's demand: the two slots stay free for it.
      expect(await isSettled(limiter.acquire('flood'))).toBe(false);
      expect(limiter.inFlight).toBe(6);
    });

    it('forgets demand two windows after it was last seen, and a tenant alone uses all but the reserve', async () => {
      const { limiter, advance } = onClock(8, 2);
      (await take(limiter, 'quiet', 3)).forEach((release) => release());
      const flood = await take(limiter, 'flood', 4);
      advance(1_000);
      expect(limiter.keptFree('flood')).toBe(3);
      advance(1_000);
      // A window in which the quiet tenant held nothing: its demand is gone.
      expect(limiter.keptFree('flood')).toBe(0);
      const more = await take(limiter, 'flood', 2);
      expect(limiter.inFlight).toBe(6);
      // The reserve still holds: 8 - 2.
      expect(await isSettled(limiter.acquire('flood'))).toBe(false);
      [...flood, ...more].forEach((release) => release());
    });

    it('borrows freely within the fair share: a tenant below it takes any free slot', async () => {
      const { limiter, advance } = onClock(8);
      const a = await take(limiter, 'a', 3);
      const b = await take(limiter, 'b', 3);
      b.forEach((release) => release());
      advance(1_000);
      // b's demand keeps 3 free from a only beyond a's share of 4: a's fourth slot is its own,
      // and a fifth leaves b's three.
      expect(limiter.keptFree('a')).toBe(3);
      const more = await take(limiter, 'a', 2);
      expect(await isSettled(limiter.acquire('a'))).toBe(false);
      // A newcomer below its share takes a free slot even if it is kept for b.
      await limiter.acquire('c');
      expect(limiter.inFlight).toBe(6);
      [...a, ...more].forEach((release) => release());
    });

    it('gives a slot freed by one of two flooding tenants back to that tenant, not the other', async () => {
      const { limiter, advance } = onClock(4);
      const a = await take(limiter, 'a', 2);
      const b = await take(limiter, 'b', 2);
      advance(1_000);
      const nextA = limiter.acquire('a');
      const nextB = limiter.acquire('b');
      // b waits first in the round; a's freed slot still goes to a (b at its share may not borrow
      // the slot a's demand keeps).
      a[0]!();
      await nextA;
      expect(await isSettled(nextB)).toBe(false);
      b[0]!();
      await nextB;
      expect(limiter.inFlight).toBe(4);
    });

    it("forgets a dropped tenant's demand at once", async () => {
      const { limiter, advance } = onClock(8);
      (await take(limiter, 'gone', 3)).forEach((release) => release());
      await take(limiter, 'flood', 5);
      advance(1_000);
      expect(limiter.keptFree('flood')).toBe(3);
      limiter.dropTenant('gone');
      expect(limiter.keptFree('flood')).toBe(0);
      await take(limiter, 'flood', 3);
      expect(limiter.inFlight).toBe(8);
    });
  });
});
