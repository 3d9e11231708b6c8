import type { Readable } from 'node:stream';
import {
  eventLimit,
  failWatch,
  MalformedWatchEventError,
  watchChunks,
  WATCH_EVENT_TYPES,
  WatchEventTooLargeError,
  type DecodeWatchOptions,
  type WatchEvent,
  type WatchEventType,
} from '../watch-decoder.js';
import { decodeWatchEventMessage, ProtobufDecodeError, type DecodeOptions } from './decode.js';

/** The media type an apiserver streams a protobuf watch in. */
export const PROTOBUF_WATCH = 'application/vnd.kubernetes.protobuf;stream=watch';

const KNOWN_TYPES: ReadonlySet<string> = new Set(WATCH_EVENT_TYPES);
const HEADER = 4;

/**
 * Splits a protobuf watch response (frames of a 4-byte big-endian length, then a WatchEvent) into
 * events whose objects have the JSON shape, with the same bound and the same errors as the JSON
 * decoder: a frame past `maxEventBytes` fails before it is buffered, and bytes that are not an
 * event end the stream with MalformedWatchEventError (never skipped: that would lose an event).
 * The error's check says what failed, never what the bytes held.
 */
export async function* decodeProtobufWatchEvents(
  body: Readable,
  options: DecodeWatchOptions & DecodeOptions,
): AsyncGenerator<WatchEvent> {
  const { what } = options;
  const maxEventBytes = eventLimit(body, options);
  // The unfinished frame as the list of its pieces, joined once when it is complete.
  let pieces: Buffer[] = [];
  let pendingBytes = 0;
  /** The length of the frame being received, once its header is in. */
  let length = -1;
  const fail = (err: Error): never => failWatch(body, err);
  for await (const chunk of watchChunks(body, what)) {
    pieces.push(chunk);
    pendingBytes += chunk.byteLength;
    for (;;) {
      if (length < 0) {
        if (pendingBytes < HEADER) break;
        const head = pieces[0]!.byteLength >= HEADER ? pieces[0]! : Buffer.concat(pieces, pendingBytes);
        length = head.readUInt32BE(0);
        if (length > maxEventBytes) fail(new WatchEventTooLargeError(what, maxEventBytes));
      }
      if (pendingBytes < HEADER + length) break;
      const buf = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, pendingBytes);
      const frame = buf.subarray(HEADER, HEADER + length);
      const rest = buf.subarray(HEADER + length);
      pieces = rest.byteLength > 0 ? [rest] : [];
      pendingBytes = rest.byteLength;
      const frameBytes = length;
      length = -1;
      let event: WatchEvent;
      try {
        const decoded = decodeWatchEventMessage(frame, options);
        if (!KNOWN_TYPES.has(decoded.type)) {
          throw new ProtobufDecodeError(`"type" is not one of ${WATCH_EVENT_TYPES.join(', ')}`);
        }
        event = { type: decoded.type as WatchEventType, object: decoded.object.object };
      } catch (err) {
        const check = err instanceof ProtobufDecodeError ? err.message : 'not a protobuf watch event';
        fail(new MalformedWatchEventError(what, check, frameBytes));
      }
      yield event!;
    }
  }
  if (pendingBytes > 0) fail(new MalformedWatchEventError(what, 'stream ended inside a frame', pendingBytes));
}
