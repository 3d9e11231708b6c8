import type { Readable } from 'node:stream';

export interface RawWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

/** Splits a watch response (one JSON event per line) into events. A line that is not JSON ends
 * the stream with an error rather than being skipped: skipping would lose an event silently. */
export async function* readWatchEvents(body: Readable): AsyncGenerator<RawWatchEvent> {
  let buffered = '';
  body.setEncoding('utf8');
  for await (const chunk of body as AsyncIterable<string>) {
    buffered += chunk;
    let start = 0;
    let newline: number;
    while ((newline = buffered.indexOf('\n', start)) >= 0) {
      const line = buffered.slice(start, newline);
      start = newline + 1;
      if (line.trim()) yield JSON.parse(line) as RawWatchEvent;
    }
    buffered = buffered.slice(start);
  }
  if (buffered.trim()) yield JSON.parse(buffered) as RawWatchEvent;
}
