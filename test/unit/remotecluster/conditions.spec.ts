import { MAX_CONDITION_MESSAGE, setCondition } from '../../../src/remotecluster/conditions.js';

describe('setCondition', () => {
  const t0 = new Date('2026-01-01T00:00:00.000Z');
  const t1 = new Date('2026-01-01T00:05:00.000Z');

  it('keeps lastTransitionTime while the status stays, moves it when the status changes', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Connecting', message: 'a' }, t0);
    const same = setCondition(first, { type: 'Ready', status: 'False', reason: 'Unreachable', message: 'b' }, t1);
    expect(same[0]).toMatchObject({ reason: 'Unreachable', message: 'b', lastTransitionTime: '2026-01-01T00:00:00Z' });
    const flipped = setCondition(same, { type: 'Ready', status: 'True', reason: 'Synced', message: 'c' }, t1);
    expect(flipped[0]!.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });

  it('orders conditions the same way whatever order they were set in', () => {
    const a = setCondition(
      setCondition(undefined, { type: 'Zeta', status: 'True', reason: 'r', message: 'm' }, t0),
      {
        type: 'Ready',
        status: 'True',
        reason: 'r',
        message: 'm',
      },
      t0,
    );
    const b = setCondition(
      setCondition(undefined, { type: 'Ready', status: 'True', reason: 'r', message: 'm' }, t0),
      {
        type: 'Zeta',
        status: 'True',
        reason: 'r',
        message: 'm',
      },
      t0,
    );
    expect(a.map((c) => c.type)).toEqual(['Ready', 'Zeta']);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });
});

describe('setCondition message bound', () => {
  it('cuts a message to MAX_CONDITION_MESSAGE characters, whatever a cause quoted', () => {
    const long = 'x'.repeat(100_000);
    const [c] = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Degraded', message: long });
    expect(c!.message).toHaveLength(MAX_CONDITION_MESSAGE);
    expect(c!.message.endsWith('…')).toBe(true);
    // An emoji (two UTF-16 units) across the cut is not split in half.
    const astral = `${'y'.repeat(MAX_CONDITION_MESSAGE - 2)}😀${'z'.repeat(10)}`;
    const [kept] = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Degraded', message: astral });
    expect(kept!.message).toBe(`${'y'.repeat(MAX_CONDITION_MESSAGE - 2)}…`);
    const [short] = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok' });
    expect(short!.message).toBe('ok');
  });
});
