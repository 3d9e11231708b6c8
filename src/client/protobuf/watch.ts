import type { Readable } from 'node:stream';
import {
  eventLimit,
  MalformedWatchEventError,
  WATCH_EVENT_TYPES,
  WatchEventTooLargeError,
  type DecodeWatchOptions,
  type WatchEvent,
  type WatchEventType,
} from '../watch-decoder.js';
import { WatchEventStream, type WatchFramer } from '../watch-stream.js';
import { decodeWatchEventMessage, ProtobufDecodeError, type DecodeOptions } from './decode.js';

/** The media type an apiserver streams a protobuf watch in. */
export const PROTOBUF_WATCH = 'application/vnd.kubernetes.protobuf;stream=watch';

const KNOWN_TYPES: ReadonlySet<string> = new Set(WATCH_EVENT_TYPES);
const HEADER = 4;

/**
 * A protobuf watch response (frames of a 4-byte big-endian length, then a WatchEvent) as events
 * whose objects have the JSON shape, with the same bound and the same errors as the JSON lines:
 * a frame past `maxEventBytes` fails before it is buffered, and bytes that are not an event are
 * MalformedWatchEventError (never skipped: that would lose an event). The error's check says
 * what failed, never what the bytes held.
 */
class ProtobufFrames implements WatchFramer {
  // The unfinished frame as the list of its pieces, joined once when it is complete.
  private pieces: Buffer[] = [];
  private pendingBytes = 0;
  /** The length of the frame being received, once its header is in. */
  private length = -1;

  constructor(
    private readonly what: string,
    private readonly maxEventBytes: number,
    private readonly options: DecodeOptions,
  ) {}

  push(chunk: Buffer, out: WatchEvent[]): void {
    this.pieces.push(chunk);
    this.pendingBytes += chunk.byteLength;
    for (;;) {
      if (this.length < 0) {
        if (this.pendingBytes < HEADER) return;
        const first = this.pieces[0]!;
        const head = first.byteLength >= HEADER ? first : Buffer.concat(this.pieces, this.pendingBytes);
        this.length = head.readUInt32BE(0);
        if (this.length > this.maxEventBytes) throw new WatchEventTooLargeError(this.what, this.maxEventBytes);
      }
      const length = this.length;
      if (this.pendingBytes < HEADER + length) return;
      const buf = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pendingBytes);
      const rest = buf.subarray(HEADER + length);
      this.pieces = rest.byteLength > 0 ? [rest] : [];
      this.pendingBytes = rest.byteLength;
      this.length = -1;
      out.push(this.event(buf.subarray(HEADER, HEADER + length)));
    }
  }

  end(): void {
    if (this.pendingBytes > 0) {
      throw new MalformedWatchEventError(this.what, 'stream ended inside a frame', this.pendingBytes);
    }
  }

  private event(frame: Buffer): WatchEvent {
    try {
      const decoded = decodeWatchEventMessage(frame, this.options);
      if (!KNOWN_TYPES.has(decoded.type)) {
        throw new ProtobufDecodeError(`"type" is not one of ${WATCH_EVENT_TYPES.join(', ')}`);
      }
      return { type: decoded.type as WatchEventType, object: decoded.object.object };
    } catch (err) {
      const check = err instanceof ProtobufDecodeError ? err.message : 'not a protobuf watch event';
      throw new MalformedWatchEventError(this.what, check, frame.byteLength);
    }
  }
}

/** The events of a protobuf watch body (see ProtobufFrames and WatchEventStream). */
export function decodeProtobufWatchEvents(
  body: Readable,
  options: DecodeWatchOptions & DecodeOptions,
): WatchEventStream {
  const framer = new ProtobufFrames(options.what, eventLimit(body, options), options);
  return new WatchEventStream(body, framer, options.what);
}
