import fc from 'fast-check';
import { describeFailure, failureReason, KubeApiError } from '../../../src/client/errors.js';
import { envelope, int, msg, str } from '../../support/protobuf.js';
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeTransport, json } from '../../../src/testing/fake-transport.js';

const MARKER = 'INTERNAL-ONLY db_password=hunter2';
const WHAT = 'GET /version';

function status(fields: Record<string, unknown>): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', ...fields });
}

describe('KubeApiError.fromResponse', () => {
  describe('a body that is not a Status', () => {
    const html = `<html><body><pre>${MARKER}</pre></body></html>`;

    it('names the request, the status, the content type and the size, and nothing of the body', () => {
      const err = KubeApiError.fromResponse(
        500,
        { 'content-type': 'text/html; charset=utf-8' },
        Buffer.from(html),
        WHAT,
      );
      expect(err.message).toBe(`${WHAT}: HTTP 500 (text/html, ${Buffer.byteLength(html)} bytes)`);
      expect(err.statusReason).toBe('');
      expect(err.status).toBe(500);
      expect(failureReason(err)).toBe('ServerError');
      expect(describeFailure(err)).not.toContain('hunter2');
    });

    it.each([
      ['JSON that is not a Status', JSON.stringify({ error: MARKER, message: MARKER })],
      ['JSON of another kind', JSON.stringify({ kind: 'Pod', message: MARKER, reason: 'Forbidden' })],
      ['a JSON array', JSON.stringify([{ kind: 'Status', message: MARKER }])],
      ['plain text', MARKER],
      ['a Status cut short', status({ message: MARKER }).slice(0, -1)],
    ])('keeps %s out of the message', (_, body) => {
      for (const input of [body, Buffer.from(body)]) {
        const err = KubeApiError.fromResponse(502, { 'content-type': 'application/json' }, input, WHAT);
        expect(err.message).not.toContain('hunter2');
        expect(err.message).toBe(`${WHAT}: HTTP 502 (application/json, ${Buffer.byteLength(body)} bytes)`);
        expect(err.statusReason).toBe('');
      }
    });

    it('says when there is no content type, and does not repeat one that is not a media type', () => {
      expect(KubeApiError.fromResponse(500, {}, '', WHAT).message).toBe(`${WHAT}: HTTP 500 (no content type, 0 bytes)`);
      for (const contentType of [`text/html ${MARKER}`, `${MARKER}/x`, 'x'.repeat(200) + '/html']) {
        const err = KubeApiError.fromResponse(500, { 'content-type': contentType }, 'x', WHAT);
        expect(err.message).toBe(`${WHAT}: HTTP 500 (invalid content type, 1 bytes)`);
      }
      // Parameters are dropped, the media type is kept.
      const err = KubeApiError.fromResponse(500, { 'content-type': `Text/Plain; secret="${MARKER}"` }, 'x', WHAT);
      expect(err.message).toBe(`${WHAT}: HTTP 500 (text/plain, 1 bytes)`);
    });

    it('never carries the body, whatever its bytes (property)', () => {
      const bodies = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
        fc.string({ minLength: 1, maxLength: 300 }).map((text) => Buffer.from(text)),
        fc.json().map((text) => Buffer.from(text)),
      );
      fc.assert(
        fc.property(bodies, fc.integer({ min: 400, max: 599 }), (body, code) => {
          fc.pre(!body.includes('"Status"'));
          const err = KubeApiError.fromResponse(code, { 'content-type': 'text/plain' }, body, WHAT);
          expect(err.message).toBe(`${WHAT}: HTTP ${code} (text/plain, ${body.byteLength} bytes)`);
        }),
        { numRuns: 500 },
      );
    });
  });

  describe('a Status body', () => {
    it('gives its reason and message', () => {
      const body = status({ code: 403, reason: 'Forbidden', message: 'pods is forbidden: User "x" cannot list' });
      for (const input of [body, Buffer.from(body)]) {
        const err = KubeApiError.fromResponse(403, { 'content-type': 'application/json' }, input, 'GET /api/v1/pods');
        expect(err.statusReason).toBe('Forbidden');
        expect(err.message).toBe('GET /api/v1/pods: 403 pods is forbidden: User "x" cannot list');
        expect(failureReason(err)).toBe('Forbidden');
      }
    });

    it('removes control and format characters, makes line breaks spaces', () => {
      const message = 'line one\r\nline two\ttab\u0000nul\u001b[31mred\u007f\u202eevil\u200b';
      const err = KubeApiError.fromResponse(500, {}, status({ message }), WHAT);
      expect(err.message).toBe(`${WHAT}: 500 line one line two tabnul[31mredevil`);
    });

    it('cuts the message to 1,024 characters', () => {
      const err = KubeApiError.fromResponse(500, {}, status({ message: 'é'.repeat(5000) }), WHAT);
      const message = err.message.slice(`${WHAT}: 500 `.length);
      expect(message).toHaveLength(1024);
      expect(message.endsWith('…')).toBe(true);
      const short = KubeApiError.fromResponse(500, {}, status({ message: 'é'.repeat(1024) }), WHAT);
      expect(short.message).toBe(`${WHAT}: 500 ${'é'.repeat(1024)}`);
    });

    it('does not split a surrogate pair when cutting', () => {
      const err = KubeApiError.fromResponse(500, {}, status({ message: 'a' + '😀'.repeat(1000) }), WHAT);
      expect(err.message).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    });

    it('drops a reason that is not a reason, and a message that is not a string', () => {
      const err = KubeApiError.fromResponse(500, {}, status({ reason: `Bad ${MARKER}`, message: { MARKER } }), WHAT);
      expect(err.statusReason).toBe('');
      expect(err.message).toBe(`${WHAT}: 500`);
    });
  });

  describe('a Status in protobuf (the answer to a request that accepts it, e.g. a watch of pods)', () => {
    const PROTOBUF = { 'content-type': 'application/vnd.kubernetes.protobuf' };

    it('takes its message and reason, as from JSON', () => {
      const body = envelope(
        'v1',
        'Status',
        str(2, 'Failure'),
        str(3, 'pods is forbidden: User "nobody" cannot watch resource "pods"'),
        str(4, 'Forbidden'),
        int(6, 403),
      );
      const err = KubeApiError.fromResponse(403, PROTOBUF, body, 'watch /api/v1/pods');
      expect(err.message).toBe('watch /api/v1/pods: 403 pods is forbidden: User "nobody" cannot watch resource "pods"');
      expect(err.statusReason).toBe('Forbidden');
      expect(failureReason(err)).toBe('Forbidden');
    });

    it.each([
      ['bytes that are not protobuf', Buffer.from(MARKER)],
      ['a Status cut short', envelope('v1', 'Status', str(3, MARKER)).subarray(0, -2)],
      ['another kind', envelope('v1', 'Pod', msg(1, str(1, MARKER)))],
      // Field 5 of the envelope, length -11 (a 10-byte varint): back to its own tag, which a
      // decoder that let the length through would read forever.
      ['a negative length', Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x2a, 0xf5, ...Array<number>(8).fill(0xff), 0x01])],
    ])('keeps %s out of the message', (_, body) => {
      const err = KubeApiError.fromResponse(403, PROTOBUF, body, WHAT);
      expect(err.message).toBe(`${WHAT}: HTTP 403 (application/vnd.kubernetes.protobuf, ${body.byteLength} bytes)`);
      expect(err.statusReason).toBe('');
    });
  });

  describe('Retry-After', () => {
    const retry = (value: string | string[] | undefined): number | undefined =>
      KubeApiError.fromResponse(429, { 'retry-after': value }, status({ reason: 'TooManyRequests' }), WHAT)
        .retryAfterSeconds;

    it('takes whole seconds', () => {
      expect(retry('1')).toBe(1);
      expect(retry(' 30 ')).toBe(30);
      expect(retry('0')).toBe(0);
      expect(retry(['7', '9'])).toBe(7);
    });

    it('caps it at 600 s', () => {
      expect(retry('600')).toBe(600);
      expect(retry('601')).toBe(600);
      expect(retry('99999999')).toBe(600);
      expect(retry('9'.repeat(400))).toBeUndefined();
    });

    it('ignores dates and garbage', () => {
      for (const value of [
        undefined,
        '',
        'Wed, 21 Oct 2015 07:28:00 GMT',
        '-1',
        '1.5',
        '1e3',
        '0x10',
        'soon',
        'Infinity',
      ]) {
        expect(retry(value)).toBeUndefined();
      }
    });
  });
});

describe('describeFailure of what a typed api() call fails with on a 2xx it cannot read', () => {
  it('never quotes a body that is not JSON (client-node parses it with JSON.parse, whose error quotes it)', () => {
    let err: unknown;
    try {
      JSON.parse(`token ${MARKER}`);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toContain('"token INTER"');
    expect(describeFailure(err)).toBe('Error: not valid JSON');
    let positioned: unknown;
    try {
      JSON.parse(`{"a": "${MARKER}" x}`);
    } catch (e) {
      positioned = e;
    }
    expect((positioned as Error).message).toContain('at position 42');
    expect(describeFailure(positioned)).toBe('Error: not valid JSON at position 42');
    // A SyntaxError that is not JSON.parse's keeps its message.
    expect(describeFailure(new SyntaxError('Invalid regular expression: /(/: Unterminated group'))).toBe(
      'Error: Invalid regular expression: /(/: Unterminated group',
    );
  });

  it('never quotes the media type the server named', async () => {
    const fake = new FakeTransport();
    fake.on(
      'GET',
      '/api/v1/namespaces/x',
      json(200, { kind: 'Namespace' }, { 'content-type': `application/x-${MARKER}` }),
    );
    const err = await fake
      .client()
      .api(CoreV1Api)
      .readNamespace({ name: 'x' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    // client-node lowercases it.
    expect((err as Error).message).toContain(MARKER.toLowerCase());
    expect(describeFailure(err)).toBe('Error: an answer has a media type the client cannot read');
  });
});
