import type { Readable } from 'node:stream';

const MiB = 1024 * 1024;

/**
 * Largest non-watch response read into memory. A list page of 500 objects is a few MiB, and a
 * single object cannot exceed etcd's request limit (~1.5 MiB); 32 MiB leaves room for pages of
 * unusually large objects (500 × 64 KiB) while a hostile or broken endpoint costs at most this
 * much per request instead of everything it cares to send.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * MiB;

/**
 * Largest single watch event (one line). An event carries one object, which etcd caps at
 * ~1.5 MiB, plus the `{"type":…,"object":…}` envelope; 4 MiB is well above that and still small.
 */
export const DEFAULT_MAX_WATCH_EVENT_BYTES = 4 * MiB;

/** A response (or one watch event) was larger than we accept. The message names the request and
 * the limit only: nothing of what was sent. */
export class ResponseTooLargeError extends Error {
  override readonly name: string = 'ResponseTooLargeError';

  constructor(
    /** The request, e.g. "GET /api/v1/pods". */
    readonly what: string,
    readonly limitBytes: number,
    message = `${what}: response body larger than ${limitBytes} bytes`,
  ) {
    super(message);
  }
}

const ignore = (): void => undefined;

/**
 * Destroys a response body so undici resets the HTTP/2 stream (or closes the HTTP/1.1 socket)
 * instead of receiving the rest. An error listener goes on first: destroying an undici body emits
 * 'error' (RequestAbortedError when no error is given), which would otherwise crash the process.
 */
export function destroyBody(body: Readable, err?: Error): void {
  body.on('error', ignore);
  body.destroy(err);
}

/** A body chunk as a Buffer, without copying; undefined for a string (someone called setEncoding()). */
export function asBuffer(chunk: unknown): Buffer | undefined {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return undefined;
}

/** A content-length header value as a number, or undefined when absent or not a plain integer. */
function declaredLength(value: string | string[] | number | undefined): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/**
 * Reads a whole response body into one Buffer, refusing more than `limitBytes`: at once when the
 * `content-length` header already says so, else as soon as the running total passes the limit.
 * On failure the body is destroyed, which releases the stream or socket.
 *
 * @param body an undici response body (a Readable of Buffers, no encoding set)
 * @param what the request, for the error message, e.g. "GET /api/v1/pods"
 * @param contentLength the response's `content-length` header, if any
 */
export async function readBounded(
  body: Readable,
  limitBytes: number,
  what: string,
  contentLength?: string | string[] | number,
): Promise<Buffer> {
  // Destroyed before the error leaves the loop, so the stream's error is ours (leaving a for-await
  // loop would destroy it too, with a plain abort).
  const fail = (err: Error): never => {
    destroyBody(body, err);
    throw err;
  };
  if (!Number.isSafeInteger(limitBytes) || limitBytes < 0) {
    fail(new RangeError(`limitBytes must be a non-negative integer (got ${limitBytes})`));
  }
  const declared = declaredLength(contentLength);
  if (declared !== undefined && declared > limitBytes) {
    fail(
      new ResponseTooLargeError(
        what,
        limitBytes,
        `${what}: response body larger than ${limitBytes} bytes (content-length ${declared})`,
      ),
    );
  }
  // Chunks are kept as they come and joined once at the end: no copy per chunk.
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<unknown>) {
    const bytes = asBuffer(chunk) ?? fail(new TypeError(`${what}: response body must yield bytes, not strings`));
    total += bytes.byteLength;
    if (total > limitBytes) fail(new ResponseTooLargeError(what, limitBytes));
    chunks.push(bytes);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
