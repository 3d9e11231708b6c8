import { describeSelector, selects } from '../../../../src/app/remotemanifest/label-selector.js';

describe('label selectors over RemoteCluster labels', () => {
  const labels = { env: 'prod', tier: 'a' };

  it('follows metav1.LabelSelector: every term must hold, empty selects all', () => {
    expect(selects({}, labels)).toBe(true);
    expect(selects({}, undefined)).toBe(true);
    expect(selects({ matchLabels: { env: 'prod' } }, labels)).toBe(true);
    expect(selects({ matchLabels: { env: 'prod', tier: 'b' } }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['x'] }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'env', operator: 'Bogus' as never }] }, labels)).toBe(false);
  });

  it('describes itself as kubectl would', () => {
    expect(
      describeSelector({
        matchLabels: { env: 'prod' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'gpu', operator: 'Exists' },
          { key: 'old', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('env=prod,tier in (a,b),gpu,!old');
    expect(describeSelector({})).toBe('(everything)');
  });
});
