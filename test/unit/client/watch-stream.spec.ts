import { PassThrough } from 'node:stream';
import { decodeWatchEvents, MalformedWatchEventError } from '../../../src/client/watch-decoder.js';

const WHAT = 'watch /api/v1/pods';
const MiB = 1024 * 1024;

const line = (name: string, pad = 0): string =>
  `${JSON.stringify({ type: 'ADDED', object: { metadata: { name }, pad: 'x'.repeat(pad) } })}\n`;
const names = (events: { object: Record<string, unknown> }[] | undefined): unknown[] =>
  (events ?? []).map((e) => (e.object.metadata as { name: string }).name);
/** A turn of the event loop: the body starts flowing and written chunks are handed over. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WatchEventStream', () => {
  it('hands over every event that arrived since the last ask as one batch, in order', async () => {
    const body = new PassThrough();
    const stream = decodeWatchEvents(body, { what: WHAT });
    await turn();
    body.write(line('a'));
    body.write(line('b') + line('c').slice(0, 10));
    body.write(line('c').slice(10));
    expect(names(await stream.nextBatch())).toEqual(['a', 'b', 'c']);
    body.end(line('d'));
    expect(names(await stream.nextBatch())).toEqual(['d']);
    expect(await stream.nextBatch()).toBeUndefined();
  });

  it('pauses a body whose events wait for a busy consumer, and resumes it when they are taken', async () => {
    const body = new PassThrough();
    const stream = decodeWatchEvents(body, { what: WHAT });
    await turn();
    // 80 events of 8 KiB: past the 512 KiB the stream holds before it pauses.
    for (let i = 0; i < 80 && !body.isPaused(); i++) body.write(line(`p${i}`, 8 * 1024));
    expect(body.isPaused()).toBe(true);
    const batch = await stream.nextBatch();
    expect(batch!.length).toBeGreaterThanOrEqual(60);
    expect(body.isPaused()).toBe(false);
    stream.close();
  });

  it('does not pause for an unfinished event alone (its consumer has nothing to take)', async () => {
    const body = new PassThrough();
    const stream = decodeWatchEvents(body, { what: WHAT, maxEventBytes: 2 * MiB });
    await turn();
    const big = line('big', MiB);
    body.write(big.slice(0, big.length - 1));
    await turn();
    expect(body.isPaused()).toBe(false);
    body.write('\n');
    expect(names(await stream.nextBatch())).toEqual(['big']);
    stream.close();
  });

  it('hands over the events decoded before a failure, then the failure, and destroys the body', async () => {
    const body = new PassThrough();
    const stream = decodeWatchEvents(body, { what: WHAT });
    await turn();
    body.write(line('ok') + 'not json\n' + line('never'));
    expect(names(await stream.nextBatch())).toEqual(['ok']);
    await expect(stream.nextBatch()).rejects.toBeInstanceOf(MalformedWatchEventError);
    expect(body.destroyed).toBe(true);
  });

  it('close() destroys the body and ends the batches, with what was not taken dropped', async () => {
    const body = new PassThrough();
    const stream = decodeWatchEvents(body, { what: WHAT });
    await turn();
    body.write(line('dropped'));
    stream.close();
    expect(body.destroyed).toBe(true);
    expect(await stream.nextBatch()).toBeUndefined();
  });

  it('wakes a waiting consumer with the error when the body is cut off before its end', async () => {
    const body = new PassThrough();
    const stream = decodeWatchEvents(body, { what: WHAT });
    const waiting = stream.nextBatch();
    await turn();
    body.destroy();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });
});
