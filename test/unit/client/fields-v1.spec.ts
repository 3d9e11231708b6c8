import { fieldsV1FromText, sharedFieldsV1, sharedFieldsV1Count } from '../../../src/client/fields-v1.js';

const FIELDS = { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': {} } };

describe('shared FieldsV1', () => {
  it('gives every equal field set, from JSON or from text, the same frozen value', () => {
    const first = structuredClone(FIELDS);
    const shared = sharedFieldsV1(first);
    // The first of its kind is kept as it is, frozen to the last leaf.
    expect(shared).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first['f:metadata']['f:labels']['.'])).toBe(true);
    expect(sharedFieldsV1(structuredClone(FIELDS))).toBe(first);
    expect(fieldsV1FromText(JSON.stringify(FIELDS))).toBe(first);
    // A change through one object would be a change of all of them: it throws instead.
    expect(() => {
      (first['f:metadata'] as Record<string, unknown>)['f:annotations'] = {};
    }).toThrow(TypeError);
  });

  it('keeps different field sets apart and leaves what is not an object alone', () => {
    const a = fieldsV1FromText('{"f:spec":{"f:replicas":{}}}');
    const b = fieldsV1FromText('{"f:spec":{"f:paused":{}}}');
    expect(a).not.toBe(b);
    expect(b).toEqual({ 'f:spec': { 'f:paused': {} } });
    for (const odd of [null, 'f:spec', 7, undefined]) expect(sharedFieldsV1(odd)).toBe(odd);
    expect(() => fieldsV1FromText('{"f:spec":')).toThrow(SyntaxError);
  });

  it('does not share a field set longer than 16 KiB', () => {
    const big = `{"f:data":{${Array.from({ length: 2_000 }, (_, i) => `"f:key-${i}":{}`).join(',')}}}`;
    expect(big.length).toBeGreaterThan(16 * 1024);
    const one = fieldsV1FromText(big);
    expect(one).toEqual(JSON.parse(big));
    expect(fieldsV1FromText(big)).not.toBe(one);
    expect(Object.isFrozen(one)).toBe(false);
  });

  it('holds a bounded table however many distinct field sets a server sends', () => {
    // 10,000 distinct texts of about 1 KiB: 10 MiB sent, at most 1 MiB of them held.
    const pad = 'x'.repeat(1_000);
    let most = 0;
    for (let i = 0; i < 10_000; i++) {
      fieldsV1FromText(`{"f:${pad}-${i}":{}}`);
      most = Math.max(most, sharedFieldsV1Count());
    }
    expect(most).toBeLessThanOrEqual(Math.ceil((1024 * 1024) / 1_000));
    expect(most).toBeGreaterThan(500);
    // Still sharing after the table started over.
    const again = fieldsV1FromText('{"f:status":{}}');
    expect(fieldsV1FromText('{"f:status":{}}')).toBe(again);
  });
});
