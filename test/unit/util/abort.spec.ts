import { failureReason } from '../../../src/client/errors.js';
import { deadline } from '../../../src/util/abort.js';

describe('deadline', () => {
  it('aborts with a TimeoutError once the time is up, which counts as a Timeout', async () => {
    const time = deadline(20);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(time.signal.aborted).toBe(true);
    expect((time.signal.reason as Error).name).toBe('TimeoutError');
    expect(failureReason(time.signal.reason)).toBe('Timeout');
  });

  it('never aborts once cleared', async () => {
    const time = deadline(20);
    time.clear();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(time.signal.aborted).toBe(false);
  });

  it('does not keep the process alive on its own', () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const time = deadline(60_000);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
    time.clear();
  });
});
