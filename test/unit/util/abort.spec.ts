import { getEventListeners } from 'node:events';
import { failureReason } from '../../../src/client/errors.js';
import { deadline, sleep } from '../../../src/util/abort.js';

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

describe('deadline linked to other signals', () => {
  it('aborts when a source aborts, with its reason', () => {
    const source = new AbortController();
    const time = deadline(60_000, source.signal);
    source.abort(new Error('stopped'));
    expect(time.signal.aborted).toBe(true);
    expect((time.signal.reason as Error).message).toBe('stopped');
    expect(time.expired).toBe(false);
  });

  it('leaves nothing on a long-lived source once cleared (AbortSignal.any would keep every call)', () => {
    const source = new AbortController();
    for (let i = 0; i < 1_000; i++) deadline(60_000, source.signal).clear();
    expect(getEventListeners(source.signal, 'abort')).toHaveLength(0);
  });

  it('is aborted at once by a source that already aborted', () => {
    const source = new AbortController();
    source.abort();
    expect(deadline(60_000, source.signal).signal.aborted).toBe(true);
  });
});

describe('sleep', () => {
  it('resolves at once, and never rejects, on a signal that already aborted', async () => {
    // A wait of 60 s that did not end at once would fail on the test's timeout.
    await expect(sleep(60_000, AbortSignal.abort())).resolves.toBeUndefined();
  });

  it('resolves when its signal aborts during the wait', async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal);
    controller.abort();
    await expect(slept).resolves.toBeUndefined();
  });
});
