import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { assign, shardOf } from '../../../src/sharding/hash.js';

describe('shardOf', () => {
  it('is the first 4 bytes of SHA-256 of the name, modulo the shard count (computable by hand)', () => {
    const hex = createHash('sha256').update('remote-1').digest('hex').slice(0, 8);
    expect(shardOf('remote-1', 32)).toBe(parseInt(hex, 16) % 32);
    expect(shardOf('remote-1', 1)).toBe(0);
  });

  it('spreads 10,000 names evenly over 32 shards (each within 20 % of the mean, 3.6 sigma)', () => {
    const counts = new Array<number>(32).fill(0);
    for (let i = 0; i < 10_000; i++) counts[shardOf(`cluster-${i}`, 32)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000 / 32)).toBeLessThan(0.2 * (10_000 / 32));
  });
});

describe('assign (rendezvous hashing)', () => {
  const members = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { minLength: 1, maxLength: 8 });

  it('is the same whatever order the members are listed in', () => {
    fc.assert(
      fc.property(members, (ms) => {
        expect(assign([...ms].reverse(), 64)).toEqual(assign(ms, 64));
      }),
    );
  });

  it('a member joining takes shards from the others and moves nothing else', () => {
    fc.assert(
      fc.property(members, fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), (ms, joining) => {
        fc.pre(!ms.includes(joining));
        const before = assign(ms, 64);
        const after = assign([...ms, joining], 64);
        after.forEach((owner, shard) => {
          if (owner !== before[shard]) expect(owner).toBe(joining);
        });
      }),
    );
  });

  it('a member leaving gives away its own shards only', () => {
    fc.assert(
      fc.property(members, (ms) => {
        fc.pre(ms.length > 1);
        const leaving = ms[0]!;
        const before = assign(ms, 64);
        const after = assign(ms.slice(1), 64);
        after.forEach((owner, shard) => {
          if (before[shard] !== leaving) expect(owner).toBe(before[shard]);
          else expect(owner).not.toBe(leaving);
        });
      }),
    );
  });

  it('moves about 1/N of 1,024 shards when the N-th replica joins, and balances them', () => {
    const pods = Array.from({ length: 10 }, (_, i) => `clusterregistry-7d9f8b6c5-${i}x${i}z`);
    for (let n = 2; n <= 10; n++) {
      const before = assign(pods.slice(0, n - 1), 1024);
      const after = assign(pods.slice(0, n), 1024);
      const moved = after.filter((o, s) => o !== before[s]).length;
      expect(Math.abs(moved / 1024 - 1 / n)).toBeLessThan(0.04);
      for (const p of pods.slice(0, n)) {
        expect(Math.abs(after.filter((o) => o === p).length / 1024 - 1 / n)).toBeLessThan(0.05);
      }
    }
  });
});
