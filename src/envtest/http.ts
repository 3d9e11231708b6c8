import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { sleep } from '../util/abort.js';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One small HTTP(S) request with a deadline; enough for readiness probes and etcd's JSON gateway. */
export function fetchText(
  url: string,
  options: RequestOptions & { body?: string; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const { body, timeoutMs = 5_000, ...rest } = options;
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: body === undefined ? 'GET' : 'POST', ...rest, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls `probe` until it returns true, the deadline passes, or `abortIf` names a reason to give up. */
export async function pollUntil(
  what: string,
  probe: () => Promise<boolean>,
  {
    timeoutMs,
    intervalMs = 200,
    abortIf,
  }: { timeoutMs: number; intervalMs?: number; abortIf?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const reason = abortIf?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      if (await probe()) return;
    } catch (err) {
      last = ` (last error: ${(err as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms${last}`);
    await sleep(intervalMs);
  }
}
