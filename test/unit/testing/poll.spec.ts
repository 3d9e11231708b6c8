import { eventually } from '../../../src/testing/poll.js';

describe('eventually', () => {
  it('waits while read gives undefined, null or false, and returns the first other value', async () => {
    const answers: unknown[] = [undefined, null, false, 0, 'late'];
    let reads = 0;
    // 0 is a value: only undefined, null and false mean "not yet".
    await expect(eventually('answered', () => answers[reads++], 5_000, 1)).resolves.toBe(0);
    expect(reads).toBe(4);
  });

  it('fails at its deadline with the last error, when read never gives a value', async () => {
    let reads = 0;
    const failing = eventually(
      'never',
      () => {
        reads++;
        if (reads % 2 === 0) throw new Error('not there');
        return false;
      },
      50,
      1,
    );
    await expect(failing).rejects.toThrow('never: not true after 50 ms (last error: not there)');
    expect(reads).toBeGreaterThan(1);
  });
});
