import { createHash } from 'node:crypto';

/**
 * The shard of a cluster: the first 4 bytes of SHA-256 of its name, big-endian, modulo the shard
 * count. Stable across processes, versions and languages (an operator can compute it by hand:
 * `printf %s NAME | sha256sum`, first 8 hex digits, mod SHARDS).
 */
export function shardOf(name: string, shards: number): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % shards;
}

/** Rendezvous (highest random weight) weight of a member for a shard: 48 bits of SHA-256. */
export function weight(member: string, shard: number): number {
  return createHash('sha256').update(`${shard}\u0000${member}`).digest().readUIntBE(0, 6);
}

/**
 * The owner of every shard among `members` by rendezvous hashing: each shard goes to the member
 * with the highest weight for it. A member joining takes only the shards it now weighs most for
 * (about 1/N of them); a member leaving gives only its own shards away, each to its runner-up.
 * Ties (48-bit collisions) go to the greater identity, so every replica decides alike.
 */
export function assign(members: readonly string[], shards: number): (string | undefined)[] {
  const owners: (string | undefined)[] = [];
  for (let shard = 0; shard < shards; shard++) {
    let best: string | undefined;
    let bestWeight = -1;
    for (const member of members) {
      const w = weight(member, shard);
      if (w > bestWeight || (w === bestWeight && best !== undefined && member > best)) {
        best = member;
        bestWeight = w;
      }
    }
    owners.push(best);
  }
  return owners;
}
