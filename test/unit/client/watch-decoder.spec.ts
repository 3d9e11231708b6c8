import { Readable } from 'node:stream';
import { ResponseTooLargeError } from '../../../src/client/body.js';
import { failureReason } from '../../../src/client/errors.js';
import {
  decodeWatchEvents,
  MalformedWatchEventError,
  WatchEventTooLargeError,
  type WatchEvent,
} from '../../../src/client/watch-decoder.js';
import { eventually } from '../../support/poll.js';

const MARKER = 'INTERNAL-ONLY db_password=hunter2';
// A regression here reads forever: fail in seconds instead of at the suite's 2-minute timeout.
const ENDLESS_TIMEOUT_MS = 15_000;
const WHAT = 'watch /api/v1/pods';

function bodyOf(...chunks: (string | Buffer)[]): Readable {
  return Readable.from(chunks.map((c) => Buffer.from(c)));
}

async function decodeAll(body: Readable, maxEventBytes = 1024 * 1024): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  for await (const event of decodeWatchEvents(body, { maxEventBytes, what: WHAT })) events.push(event);
  return events;
}

async function failure<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as E;
}

function line(type: string, name: string): string {
  return `${JSON.stringify({ type, object: { kind: 'Pod', metadata: { name } } })}\n`;
}

/** Never ends; says how much it handed out and whether it was released. */
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

describe('decodeWatchEvents', () => {
  // Multi-byte characters of 2, 3 and 4 bytes, a blank line, a CRLF line and a last line without newline.
  const stream = Buffer.from(
    line('ADDED', 'café') +
      '\n' +
      line('MODIFIED', '日本').replace('\n', '\r\n') +
      line('BOOKMARK', '😀') +
      '  \n' +
      line('DELETED', 'end').trimEnd(),
  );
  const expected = [
    { type: 'ADDED', name: 'café' },
    { type: 'MODIFIED', name: '日本' },
    { type: 'BOOKMARK', name: '😀' },
    { type: 'DELETED', name: 'end' },
  ];
  const summary = (events: WatchEvent[]): { type: string; name: unknown }[] =>
    events.map((e) => ({ type: e.type, name: (e.object.metadata as { name: unknown }).name }));

  it('decodes the stream split in two at every byte position', async () => {
    for (let i = 0; i <= stream.length; i++) {
      const events = await decodeAll(bodyOf(stream.subarray(0, i), stream.subarray(i)));
      expect(summary(events)).toEqual(expected);
    }
  });

  it('decodes the stream split in three, the middle piece of 1 to 3 bytes (a character in three pieces)', async () => {
    for (let i = 0; i < stream.length; i++) {
      for (const j of [i + 1, i + 2, i + 3]) {
        const chunks = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
        expect(summary(await decodeAll(bodyOf(...chunks)))).toEqual(expected);
      }
    }
  });

  it('decodes one byte per chunk', async () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    expect(summary(await decodeAll(Readable.from(chunks)))).toEqual(expected);
  });

  it('handles chunks that end right at a newline and chunks that are only a newline', async () => {
    const a = line('ADDED', 'a');
    const b = line('ADDED', 'b');
    const events = await decodeAll(bodyOf(a, '\n', b.slice(0, -1), '\n', '\n'));
    expect(summary(events)).toEqual([
      { type: 'ADDED', name: 'a' },
      { type: 'ADDED', name: 'b' },
    ]);
  });

  it('decodes many events of one chunk, in order', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `pod-${i}`);
    const events = await decodeAll(bodyOf(names.map((n) => line('MODIFIED', n)).join('')));
    expect(summary(events).map((e) => e.name)).toEqual(names);
  });

  it('ends without events on an empty or blank body', async () => {
    expect(await decodeAll(bodyOf())).toEqual([]);
    expect(await decodeAll(bodyOf('\n', ' \n\n', '\r\n'))).toEqual([]);
  });

  describe('maxEventBytes', () => {
    const event = line('ADDED', 'x'.repeat(100)).trimEnd();
    const size = Buffer.byteLength(event);

    it('accepts an event of exactly the limit and refuses one byte more, in one chunk or several', async () => {
      for (const chunks of [[event + '\n'], [event.slice(0, 50), event.slice(50) + '\n'], [event]]) {
        expect(await decodeAll(bodyOf(...chunks), size)).toHaveLength(1);
        const err = await failure(decodeAll(bodyOf(...chunks), size - 1), WatchEventTooLargeError);
        expect(err.limitBytes).toBe(size - 1);
        expect(err.message).toBe(`${WHAT}: watch event larger than ${size - 1} bytes`);
      }
    });

    it('counts bytes, not characters', async () => {
      const wide = line('ADDED', '😀'.repeat(20)).trimEnd();
      expect(wide.length).toBeLessThan(Buffer.byteLength(wide));
      await failure(decodeAll(bodyOf(wide + '\n'), wide.length), WatchEventTooLargeError);
    });

    it(
      'stops an endless line at the limit, destroys the body and says nothing of its content',
      async () => {
        const chunk = Buffer.from(MARKER.repeat(2000));
        const source = endless(chunk);
        const limit = 1024 * 1024;
        const err = await failure(decodeAll(source.body, limit), WatchEventTooLargeError);
        expect(source.pulled()).toBeLessThan(limit + 20 * chunk.byteLength);
        expect(source.body.destroyed).toBe(true);
        expect(source.body.errored).toBe(err);
        await eventually('the source is released', () => source.released() || undefined, 5_000);
        expect(err.message).not.toContain('hunter2');
        // One family with too large responses.
        expect(err).toBeInstanceOf(ResponseTooLargeError);
        expect(failureReason(err)).toBe('ResponseTooLarge');
      },
      ENDLESS_TIMEOUT_MS,
    );

    it(
      'stops at an overlong line that follows good events, after yielding them',
      async () => {
        const events: WatchEvent[] = [];
        const source = endless(Buffer.alloc(64 * 1024, 'a'));
        async function* withPrefix(): AsyncGenerator<Buffer> {
          yield Buffer.from(line('ADDED', 'first') + line('ADDED', 'second') + '{"type":"ADDED","object":{"x":"');
          yield* source.body as AsyncIterable<Buffer>;
        }
        const body = Readable.from(withPrefix());
        await failure(
          (async () => {
            for await (const e of decodeWatchEvents(body, { maxEventBytes: 256 * 1024, what: WHAT })) events.push(e);
          })(),
          WatchEventTooLargeError,
        );
        expect(summary(events).map((e) => e.name)).toEqual(['first', 'second']);
        expect(body.destroyed).toBe(true);
      },
      ENDLESS_TIMEOUT_MS,
    );
  });

  describe('malformed lines', () => {
    const cases: [string, string, string][] = [
      ['not JSON', `<html>${MARKER}</html>`, 'not valid JSON'],
      ['truncated JSON', `{"type":"ADDED","object":{"note":"${MARKER}"`, 'not valid JSON'],
      ['a JSON array', `["${MARKER}"]`, 'not a JSON object'],
      ['a JSON string', `"${MARKER}"`, 'not a JSON object'],
      ['an unknown type', `{"type":"${MARKER}","object":{}}`, '"type" is not one of'],
      ['no type', `{"object":{"note":"${MARKER}"}}`, '"type" is not one of'],
      ['an array object', `{"type":"ADDED","object":["${MARKER}"]}`, '"object" is not a JSON object'],
      ['a null object', `{"type":"ADDED","object":null,"note":"${MARKER}"}`, '"object" is not a JSON object'],
      ['no object', `{"type":"DELETED","note":"${MARKER}"}`, '"object" is not a JSON object'],
    ];

    it.each(cases)('refuses %s without quoting it', async (_, text, check) => {
      const body = bodyOf(line('ADDED', 'ok'), text + '\n', line('ADDED', 'never'));
      const events: WatchEvent[] = [];
      const err = await failure(
        (async () => {
          for await (const e of decodeWatchEvents(body, { what: WHAT })) events.push(e);
        })(),
        MalformedWatchEventError,
      );
      expect(events).toHaveLength(1);
      expect(err.message).toContain(check);
      expect(err.message).toContain(`line of ${Buffer.byteLength(text)} bytes`);
      expect(err.message).not.toContain('hunter2');
      expect(err.message).not.toContain('INTERNAL');
      expect(err.cause).toBeUndefined();
      expect(body.destroyed).toBe(true);
    });

    it('refuses a last line without newline that is malformed', async () => {
      await failure(decodeAll(bodyOf(line('ADDED', 'ok'), MARKER)), MalformedWatchEventError);
    });

    it('refuses invalid UTF-8 rather than replacing it', async () => {
      const bad = Buffer.concat([
        Buffer.from('{"type":"ADDED","object":{"name":"'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}}\n'),
      ]);
      const err = await failure(decodeAll(Readable.from([bad])), MalformedWatchEventError);
      expect(err.message).toContain('not valid UTF-8');
    });

    it('counts as a plain error, even for a path with "certificates" in it', () => {
      const err = new MalformedWatchEventError('watch /apis/cert-manager.io/v1/certificates', 'not valid JSON', 3);
      expect(failureReason(err)).toBe('Error');
    });
  });

  it(
    'destroys the body when the consumer stops early',
    async () => {
      const source = endless(Buffer.from(line('MODIFIED', 'again')));
      for await (const event of decodeWatchEvents(source.body, { what: WHAT })) {
        expect(event.type).toBe('MODIFIED');
        break;
      }
      expect(source.body.destroyed).toBe(true);
      await eventually('the source is released', () => source.released() || undefined, 5_000);
    },
    ENDLESS_TIMEOUT_MS,
  );

  it('refuses a body in string mode (setEncoding)', async () => {
    const body = bodyOf(line('ADDED', 'a'));
    body.setEncoding('utf8');
    await expect(decodeAll(body)).rejects.toThrow(/must yield bytes/);
    expect(body.destroyed).toBe(true);
  });
});
