import { PassThrough } from 'node:stream';
import { arrayBuffer, text } from 'node:stream/consumers';
import { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import { ClusterClient } from '../client/cluster-client.js';
import { flush } from './poll.js';

/** A request as the fake saw it. */
export interface RecordedRequest {
  method: string;
  /** Path with its query, as sent: `/api/v1/pods?limit=500`. */
  path: string;
  pathname: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  /** The body, parsed as JSON when it is JSON. */
  body?: unknown;
  /** The request's signal: aborted when the caller gave up (timeout, stop, ctx.signal). */
  signal?: AbortSignal;
  /** Date.now() when the request arrived: the fake clock under jest's fake timers. */
  at: number;
}

/** An answer with a JSON body. */
export interface JsonReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** An answer that never comes: the request waits until its signal aborts. */
export const HANG = Symbol('hang');

export type Reply = JsonReply | WatchStream | typeof HANG;
export type Handler = (req: RecordedRequest) => Reply | Promise<Reply>;
type Route = { method: string; match: (req: RecordedRequest) => boolean; replies: (Reply | Handler)[] };

export const json = (status: number, body?: unknown, headers?: Record<string, string>): JsonReply => ({
  status,
  body,
  headers,
});

/** A metav1.Status failure, as the apiserver sends it. */
export const status = (code: number, reason: string, message = reason, headers?: Record<string, string>): JsonReply =>
  json(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message }, headers);

/** A list page. */
export const page = (items: unknown[], resourceVersion: string, continueToken?: string): JsonReply =>
  json(200, { kind: 'List', metadata: { resourceVersion, continue: continueToken }, items });

/** A response body with the two BodyMixin methods ClusterClient reads (arrayBuffer, text). */
class FakeBody extends PassThrough {
  text(): Promise<string> {
    return text(this);
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    return arrayBuffer(this);
  }
}

/** A watch response the test drives: events go out as JSON lines while it is open (or as the
 * raw bytes of another content type, e.g. protobuf frames). */
export class WatchStream {
  readonly body = new FakeBody();
  /** The request that opened it (set when served). */
  request?: RecordedRequest;

  constructor(readonly contentType = 'application/json') {}

  get open(): boolean {
    return !this.body.writableEnded && !this.body.destroyed;
  }

  push(type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR', object: unknown): this {
    return this.raw(`${JSON.stringify({ type, object })}\n`);
  }

  raw(chunk: string | Buffer): this {
    this.body.write(chunk);
    return this;
  }

  /** The server closes the stream (a watch timeout). */
  end(): void {
    this.body.end();
  }

  /** The connection breaks. */
  fail(err: Error = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })): void {
    this.body.destroy(err);
  }
}

/** Past this many requests a loop under test is running away (no test sends nearly as many):
 * each further request first waits for a real event-loop turn (setImmediate: a test whose fake
 * timers fake it too would hang there), so the test fails on its assertions, and its timeout can
 * fire, instead of hanging in an endless chain of promises. */
const RUNAWAY_REQUESTS = 10_000;

/**
 * A scripted stand-in for the undici dispatcher of ClusterClient. Every request is recorded; the
 * answer comes from the newest route matching its method and path. A route's replies are served
 * in order, the last one again for every later request (a function of the request, a JSON reply,
 * HANG; a WatchStream is served once, then later requests hang). Unrouted requests get a 404
 * Status. Aborting a request's signal rejects it, or destroys its body, with the signal's reason
 * as it is, as undici does.
 */
export class FakeTransport {
  readonly requests: RecordedRequest[] = [];
  /** Every WatchStream served, in order. */
  readonly watches: WatchStream[] = [];
  private readonly routes: Route[] = [];
  private readonly pending = new Set<() => void>();
  private readonly served = new Set<WatchStream>();

  /** Routes `method` requests whose pathname is `path` (or whose path with query matches). */
  on(method: string, path: string | RegExp, ...replies: (Reply | Handler)[]): this {
    const match =
      typeof path === 'string'
        ? (r: RecordedRequest) => r.pathname === path
        : (r: RecordedRequest) => path.test(r.path);
    this.routes.unshift({ method, match, replies });
    return this;
  }

  /** GET of `path` without `watch` in the query: lists and gets. */
  onList(path: string, ...replies: (Reply | Handler)[]): this {
    return this.onWhere('GET', (r) => r.pathname === path && !r.query.has('watch'), replies);
  }

  /** GET of `path` with `watch` in the query. */
  onWatch(path: string, ...replies: (Reply | Handler)[]): this {
    return this.onWhere('GET', (r) => r.pathname === path && r.query.has('watch'), replies);
  }

  onWhere(method: string, match: (req: RecordedRequest) => boolean, replies: (Reply | Handler)[]): this {
    this.routes.unshift({ method, match, replies });
    return this;
  }

  /** "METHOD path?query" of every request, for exact assertions on what was sent. */
  sent(filter: (req: RecordedRequest) => boolean = () => true): string[] {
    return this.requests.filter(filter).map((r) => `${r.method} ${r.path}`);
  }

  /** The newest WatchStream served. */
  get lastWatch(): WatchStream {
    const w = this.watches.at(-1);
    if (!w) throw new Error('no watch was served');
    return w;
  }

  /** The dispatcher to give ClusterClient. */
  get dispatcher(): Pick<Dispatcher, 'request' | 'destroy'> {
    return this as unknown as Pick<Dispatcher, 'request' | 'destroy'>;
  }

  /** A ClusterClient whose every request reaches this fake. */
  client(name = 'test', requestTimeoutMs?: number): ClusterClient {
    return new ClusterClient({ name, kubeConfig: fakeKubeConfig(), dispatcher: this.dispatcher, requestTimeoutMs });
  }

  async request(opts: Dispatcher.RequestOptions): Promise<Partial<Dispatcher.ResponseData>> {
    const url = new URL(opts.path, 'https://fake.invalid');
    const signal = opts.signal instanceof AbortSignal ? opts.signal : undefined;
    const req: RecordedRequest = {
      method: opts.method,
      path: url.pathname + url.search,
      pathname: url.pathname,
      query: url.searchParams,
      headers: { ...(opts.headers as Record<string, string>) },
      body: parseBody(opts.body),
      signal,
      at: Date.now(),
    };
    this.requests.push(req);
    if (this.requests.length > RUNAWAY_REQUESTS) await new Promise((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw signal.reason as Error;
    const reply = await this.whenAnswered(this.reply(req), signal);
    if (reply instanceof WatchStream) {
      reply.request = req;
      this.watches.push(reply);
      if (signal) signal.addEventListener('abort', () => reply.body.destroy(signal.reason as Error), { once: true });
      return { statusCode: 200, headers: { 'content-type': reply.contentType }, body: reply.body as never };
    }
    const body = new FakeBody();
    body.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    return { statusCode: reply.status, headers: { ...reply.headers }, body: body as never };
  }

  /** Ends every open watch and rejects every pending request, as destroying an Agent does. */
  destroy(): Promise<void> {
    for (const w of this.watches) if (w.open) w.end();
    for (const reject of [...this.pending]) reject();
    return Promise.resolve();
  }

  private async reply(req: RecordedRequest): Promise<Reply> {
    const route = this.routes.find((r) => r.method === req.method && r.match(req));
    if (!route) return status(404, 'NotFound', `${req.method} ${req.pathname} is not routed`);
    const next = route.replies.length > 1 ? route.replies.shift()! : route.replies[0];
    if (next === undefined) return HANG;
    const reply = typeof next === 'function' ? await next(req) : next;
    if (reply instanceof WatchStream) {
      if (this.served.has(reply)) return HANG;
      this.served.add(reply);
    }
    return reply;
  }

  private whenAnswered(reply: Promise<Reply>, signal: AbortSignal | undefined): Promise<Exclude<Reply, typeof HANG>> {
    return new Promise((resolve, reject) => {
      const fail = (): void => {
        cleanup();
        reject(signal?.aborted ? (signal.reason as Error) : new Error('dispatcher destroyed'));
      };
      const cleanup = (): void => {
        this.pending.delete(fail);
        signal?.removeEventListener('abort', fail);
      };
      this.pending.add(fail);
      signal?.addEventListener('abort', fail, { once: true });
      reply.then(
        (r) => {
          if (r === HANG) return; // until the signal aborts or destroy()
          cleanup();
          resolve(r);
        },
        (err: unknown) => {
          cleanup();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}

function parseBody(body: Dispatcher.RequestOptions['body']): unknown {
  if (body === undefined || body === null) return undefined;
  const raw = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : body;
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** A kubeconfig with an https server and a token; nothing ever connects to it. */
export function fakeKubeConfig(server = 'https://fake.invalid:6443'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server } }],
      users: [{ name: 'u', user: { token: 'fake-token' } }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'ctx',
    }),
  );
  return kc;
}

/** Real event-loop turns (jest's fake timers must leave setImmediate and nextTick real) so that
 * promise chains and streams started by a request or a timer run to their next wait. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await flush();
}

/** Settles until `condition` holds; fails after `turns` event-loop turns (no wall-clock time). */
export async function until(condition: () => boolean, what = 'condition', turns = 500): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return;
    await flush();
  }
  throw new Error(`${what} did not happen within ${turns} event-loop turns`);
}
