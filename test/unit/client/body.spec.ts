import { Readable } from 'node:stream';
import { readBounded, ResponseTooLargeError } from '../../../src/client/body.js';
import { failureReason } from '../../../src/client/errors.js';
import { eventually } from '../../support/poll.js';

const MARKER = 'INTERNAL-ONLY db_password=hunter2';
// A regression here reads forever: fail in seconds instead of at the suite's 2-minute timeout.
const ENDLESS_TIMEOUT_MS = 15_000;
const WHAT = 'GET /api/v1/pods';

/** A body from fixed chunks. */
function bodyOf(...chunks: (string | Buffer)[]): Readable {
  return Readable.from(chunks.map((c) => Buffer.from(c)));
}

/** A body that never ends, with what it has handed out and whether it was released. */
function endless(chunk: Buffer): { body: Readable; pulled: () => number; released: () => boolean } {
  let pulled = 0;
  let released = false;
  async function* forever(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        pulled += chunk.byteLength;
        yield chunk;
        // As a socket does: back to the event loop, so timers (the test's timeout) still run.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      released = true;
    }
  }
  return { body: Readable.from(forever()), pulled: () => pulled, released: () => released };
}

async function failure(promise: Promise<unknown>): Promise<ResponseTooLargeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ResponseTooLargeError);
  return err as ResponseTooLargeError;
}

describe('readBounded', () => {
  const text = '{"kind":"PodList","items":[{"name":"é日本😀"}]}';
  const bytes = Buffer.from(text);

  it('joins the body split at every byte position, multi-byte characters included', async () => {
    for (let i = 0; i <= bytes.length; i++) {
      const read = await readBounded(bodyOf(bytes.subarray(0, i), bytes.subarray(i)), bytes.length, WHAT);
      expect(read.equals(bytes)).toBe(true);
      expect(read.toString('utf8')).toBe(text);
    }
  });

  it('reads a body of one byte per chunk', async () => {
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    expect((await readBounded(Readable.from(chunks), bytes.length, WHAT)).equals(bytes)).toBe(true);
  });

  it('reads an empty body', async () => {
    expect((await readBounded(bodyOf(), 0, WHAT)).byteLength).toBe(0);
  });

  it('accepts a body of exactly the limit and refuses one byte more', async () => {
    const half = Math.floor(bytes.length / 2);
    await expect(
      readBounded(bodyOf(bytes.subarray(0, half), bytes.subarray(half)), bytes.length, WHAT),
    ).resolves.toEqual(bytes);
    const err = await failure(
      readBounded(bodyOf(bytes.subarray(0, half), bytes.subarray(half)), bytes.length - 1, WHAT),
    );
    expect(err.limitBytes).toBe(bytes.length - 1);
    expect(err.what).toBe(WHAT);
    expect(err.message).toBe(`${WHAT}: response body larger than ${bytes.length - 1} bytes`);
    expect(failureReason(err)).toBe('ResponseTooLarge');
  });

  it(
    'stops an endless body at the limit, destroys it and says nothing of its content',
    async () => {
      const chunk = Buffer.from(MARKER.repeat(2000));
      const source = endless(chunk);
      const limit = 1024 * 1024;
      const err = await failure(readBounded(source.body, limit, WHAT));
      // Read-ahead of the stream is a few chunks at most, never unbounded.
      expect(source.pulled()).toBeLessThan(limit + 20 * chunk.byteLength);
      expect(source.body.destroyed).toBe(true);
      expect(source.body.errored).toBe(err);
      await eventually('the source is released', () => source.released() || undefined, 5_000);
      expect(err.message).not.toContain('hunter2');
      expect(err.message).not.toContain('INTERNAL');
    },
    ENDLESS_TIMEOUT_MS,
  );

  it(
    'fails before reading when content-length already exceeds the limit',
    async () => {
      const source = endless(Buffer.from('x'));
      const err = await failure(readBounded(source.body, 100, WHAT, '101'));
      expect(source.pulled()).toBe(0);
      expect(err.message).toBe(`${WHAT}: response body larger than 100 bytes (content-length 101)`);
      expect(source.body.destroyed).toBe(true);
      expect(source.body.errored).toBe(err);
    },
    ENDLESS_TIMEOUT_MS,
  );

  it('reads normally when content-length is within the limit, or not a number', async () => {
    for (const header of ['14', ' 14 ', 'lots', '-1', '1e9', ['99999'], undefined]) {
      expect((await readBounded(bodyOf('{"kind":"Pod"}'), 14, WHAT, header)).toString()).toBe('{"kind":"Pod"}');
    }
    await failure(readBounded(bodyOf('{"kind":"Pod"}'), 13, WHAT, 13));
  });

  it('refuses a body in string mode (setEncoding), and destroys it', async () => {
    const body = bodyOf('abc');
    body.setEncoding('utf8');
    await expect(readBounded(body, 100, WHAT)).rejects.toThrow(/must yield bytes/);
    expect(body.destroyed).toBe(true);
  });

  it('passes on the error of a body that fails', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from('{');
      await Promise.resolve();
      throw new Error('socket hang up');
    }
    await expect(readBounded(Readable.from(broken()), 100, WHAT)).rejects.toThrow('socket hang up');
  });
});
