import { fieldsV1FromBytes, sharedFieldsV1, sharedFieldsV1Count } from '../../../src/client/fields-v1.js';

const FIELDS = { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': {} } };

/** The value of a JSON text as the decoder finds it: a range inside a larger message. */
function fromBytes(text: string): unknown {
  const buf = Buffer.concat([Buffer.from('before'), Buffer.from(text), Buffer.from('after')]);
  return fieldsV1FromBytes(buf, 6, buf.length - 5);
}

describe('shared FieldsV1', () => {
  it('gives every equal field set, from JSON or from bytes, the same frozen value', () => {
    const first = structuredClone(FIELDS);
    const shared = sharedFieldsV1(first);
    // The first of its kind is kept as it is, frozen to the last leaf.
    expect(shared).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first['f:metadata']['f:labels']['.'])).toBe(true);
    expect(sharedFieldsV1(structuredClone(FIELDS))).toBe(first);
    expect(fromBytes(JSON.stringify(FIELDS))).toBe(first);
    // A change through one object would be a change of all of them: it throws instead.
    expect(() => {
      (first['f:metadata'] as Record<string, unknown>)['f:annotations'] = {};
    }).toThrow(TypeError);
  });

  it('keeps different field sets apart and leaves what is not an object alone', () => {
    const a = fromBytes('{"f:spec":{"f:replicas":{},"f:paused":{}}}');
    const b = fromBytes('{"f:spec":{"f:replicaz":{},"f:paused":{}}}');
    expect(a).toEqual({ 'f:spec': { 'f:replicas': {}, 'f:paused': {} } });
    expect(b).toEqual({ 'f:spec': { 'f:replicaz': {}, 'f:paused': {} } });
    expect(fromBytes('{"f:spec":{"f:replicas":{},"f:paused":{}}}')).toBe(a);
    // 2,000 values of one length in 1,024 slots: many meet in a slot. Each found again is its own,
    // never the one of the same length that took its slot (the full compare, not the hash, decides).
    const texts = Array.from({ length: 2_000 }, (_, i) => `{"f:k${String(i).padStart(5, '0')}":{}}`);
    for (const text of texts) fromBytes(text);
    for (const text of texts) expect(fromBytes(text)).toEqual(JSON.parse(text));
    for (const odd of [null, 'f:spec', 7, undefined]) expect(sharedFieldsV1(odd)).toBe(odd);
    // A server's value nested deeper than JSON.stringify can go is not shared, nor thrown on.
    const depth = 200_000;
    const deep: unknown = JSON.parse(`${'{"f:a":'.repeat(depth)}{}${'}'.repeat(depth)}`);
    expect(sharedFieldsV1(deep)).toBe(deep);
    expect(Object.isFrozen(deep)).toBe(true);
    // From bytes, one that fits the table is frozen to its last level however deep.
    const levels = 8_192;
    let inner = fromBytes(`${'['.repeat(levels)}${']'.repeat(levels)}`);
    for (let i = 1; i < levels; i++) inner = (inner as unknown[])[0];
    expect(inner).toEqual([]);
    expect(Object.isFrozen(inner)).toBe(true);
    expect(() => fromBytes('{"f:spec":')).toThrow(SyntaxError);
  });

  it('finds interleaved field sets (one per manager, object after object) as their own', () => {
    // As a list carries them: each object has the same entries in the same order. Found among the
    // recent ones, each is its own, never the recent one of the same length before it.
    const managers = ['{"f:spec":{"f:a":{}}}', '{"f:spec":{"f:b":{}}}', '{"f:status":{"f:c":{}}}', '{"f:x":{}}'];
    const firsts = managers.map((text) => fromBytes(text));
    for (let i = 0; i < 100; i++) {
      managers.forEach((text, m) => expect(fromBytes(text)).toBe(firsts[m]));
    }
    managers.forEach((text, m) => expect(firsts[m]).toEqual(JSON.parse(text)));
  });

  it('does not share a field set longer than 16 KiB', () => {
    const big = `{"f:data":{${Array.from({ length: 2_000 }, (_, i) => `"f:key-${i}":{}`).join(',')}}}`;
    expect(big.length).toBeGreaterThan(16 * 1024);
    const one = fromBytes(big);
    expect(one).toEqual(JSON.parse(big));
    expect(fromBytes(big)).not.toBe(one);
    // Frozen all the same: whether a change throws does not depend on a value's size.
    expect(Object.isFrozen(one)).toBe(true);
  });

  it('holds a bounded table however many distinct field sets a server sends', () => {
    // 1,000 distinct values of 8 KiB: 8 MiB sent, at most 1 MiB of them (128) held at once, where
    // the 1,024 slots alone would hold several hundred.
    const pad = 'x'.repeat(8 * 1024 - 20);
    let most = 0;
    for (let i = 0; i < 1_000; i++) {
      fromBytes(`{"f:${pad}-${String(i).padStart(5, '0')}":{}}`);
      // From the 200th on: the earlier tests' small values have gone by then.
      if (i >= 200) most = Math.max(most, sharedFieldsV1Count());
    }
    expect(most).toBeLessThanOrEqual(128);
    expect(most).toBeGreaterThan(64);
    // Still sharing after the table started over.
    const again = fromBytes('{"f:status":{}}');
    expect(fromBytes('{"f:status":{}}')).toBe(again);
  });
});
