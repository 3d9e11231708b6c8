import type { Readable } from 'node:stream';
import { DEFAULT_MAX_WATCH_EVENT_BYTES, destroyBody, ResponseTooLargeError } from './body.js';
import { WatchEventStream, type WatchFramer } from './watch-stream.js';

export const WATCH_EVENT_TYPES = ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'] as const;
export type WatchEventType = (typeof WATCH_EVENT_TYPES)[number];

/** One event of a watch stream, checked for shape: a known type and an object. */
export interface WatchEvent {
  type: WatchEventType;
  object: Record<string, unknown>;
}

export interface DecodeWatchOptions {
  /** Largest event (one line, without its newline) accepted; default DEFAULT_MAX_WATCH_EVENT_BYTES. */
  maxEventBytes?: number;
  /** The request, for error messages, e.g. "watch /api/v1/pods". */
  what: string;
}

/** One line of a watch grew past the limit. Same failure family as a too large response. */
export class WatchEventTooLargeError extends ResponseTooLargeError {
  override readonly name: string = 'WatchEventTooLargeError';

  constructor(what: string, limitBytes: number) {
    super(what, limitBytes, `${what}: watch event larger than ${limitBytes} bytes`);
  }
}

/** A line that is not a watch event. The message says which check failed and how long the line
 * was, never what it held: the bytes come from the remote end and may carry anything. */
export class MalformedWatchEventError extends Error {
  override readonly name: string = 'MalformedWatchEventError';

  constructor(
    readonly what: string,
    /** The check that failed, e.g. "not valid JSON". */
    readonly check: string,
    readonly lineBytes: number,
  ) {
    super(`${what}: malformed watch event (${check}; line of ${lineBytes} bytes)`);
  }
}

const NEWLINE = 0x0a;
const KNOWN_TYPES: ReadonlySet<unknown> = new Set(WATCH_EVENT_TYPES);
// fatal: invalid UTF-8 is an error, not silently replaced characters.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Decodes one complete line; undefined for a blank one. */
function decodeLine(line: Buffer, what: string): WatchEvent | undefined {
  const malformed = (check: string): MalformedWatchEventError =>
    new MalformedWatchEventError(what, check, line.byteLength);
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    throw malformed('not valid UTF-8');
  }
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the input: replaced, and not kept as a cause either.
    throw malformed('not valid JSON');
  }
  if (!isObject(value)) throw malformed('not a JSON object');
  if (!KNOWN_TYPES.has(value.type)) throw malformed(`"type" is not one of ${WATCH_EVENT_TYPES.join(', ')}`);
  if (!isObject(value.object)) throw malformed('"object" is not a JSON object');
  return { type: value.type as WatchEventType, object: value.object };
}

/** The event limit of `options`, checked; an invalid one destroys the body and throws. */
export function eventLimit(body: Readable, options: DecodeWatchOptions): number {
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_WATCH_EVENT_BYTES;
  if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes < 0) {
    destroyBody(body);
    throw new RangeError(`maxEventBytes must be a non-negative integer (got ${maxEventBytes})`);
  }
  return maxEventBytes;
}

/**
 * A watch response's JSON lines (one event per line), as events, with a bound on each event.
 *
 * Bytes are split on 0x0A, which never occurs inside a multi-byte UTF-8 character, so a line is
 * decoded only once it is complete and a character split across chunks needs no care. The
 * unfinished line is kept as the list of its pieces: each chunk is searched once, and the pieces
 * are joined once, when the line ends. A line past `maxEventBytes` fails before it is buffered.
 * A line that is not an event is an error rather than being skipped: skipping would lose an
 * event silently.
 */
class JsonLines implements WatchFramer {
  private pieces: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly what: string,
    private readonly maxEventBytes: number,
  ) {}

  push(chunk: Buffer, out: WatchEvent[]): void {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, end);
      start = end + 1;
      const lineBytes = this.pendingBytes + piece.byteLength;
      if (lineBytes > this.maxEventBytes) throw new WatchEventTooLargeError(this.what, this.maxEventBytes);
      const line = this.pieces.length === 0 ? piece : Buffer.concat([...this.pieces, piece], lineBytes);
      this.pieces = [];
      this.pendingBytes = 0;
      const event = decodeLine(line, this.what);
      if (event) out.push(event);
    }
    if (start < chunk.byteLength) {
      this.pendingBytes += chunk.byteLength - start;
      if (this.pendingBytes > this.maxEventBytes) throw new WatchEventTooLargeError(this.what, this.maxEventBytes);
      this.pieces.push(chunk.subarray(start));
    }
  }

  end(out: WatchEvent[]): void {
    // A last line without its newline is an event too.
    if (this.pendingBytes === 0) return;
    const event = decodeLine(Buffer.concat(this.pieces, this.pendingBytes), this.what);
    if (event) out.push(event);
  }
}

/** The events of a JSON watch body (see JsonLines and WatchEventStream). */
export function decodeWatchEvents(body: Readable, options: DecodeWatchOptions): WatchEventStream {
  return new WatchEventStream(body, new JsonLines(options.what, eventLimit(body, options)), options.what);
}
