import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { createClusterPki } from '../../src/envtest/pki.js';

/**
 * A hostile endpoint that looks enough like a kube-apiserver for a client to reach its lists and
 * watches, then misbehaves as told: endless or huge bodies, endless or huge watch lines, garbage,
 * error pages that carry secrets, requests never answered. HTTPS on 127.0.0.1 only, HTTP/2 (which
 * undici negotiates through ALPN) and HTTP/1.1.
 *
 * Streams honour backpressure, so the server's own memory stays flat and a test that measures
 * the process measures the client.
 */

/** In the body of `error-500-body` answers (and garbage watch lines): it must never leak. */
export const SECRET_MARKER = 'INTERNAL-ONLY db_password=hunter2';
/** The message of the `status-500` Status object. */
export const STATUS_500_MESSAGE = 'etcdserver: request timed out';

const TOKEN = 'hostile-test-token';
const MiB = 1024 * 1024;
const BLOCK_BYTES = 64 * 1024;

/** One request being answered. HTTP/1.1 requests get node:http's objects, which have the same
 * members as the HTTP/2 compatibility objects typed here for everything used below. */
interface Call {
  req: Http2ServerRequest;
  res: Http2ServerResponse;
  path: string;
  resource?: Resource;
  /** A WatchList request (sendInitialEvents=true): the current state first, then its end bookmark. */
  initial?: boolean;
  server: HostileServer;
}

type Responder = (call: Call) => void | Promise<void>;

// --- Helpers -------------------------------------------------------------------------------

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function reply(call: Call, code: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body);
  call.res.writeHead(code, { 'content-type': contentType, 'content-length': bytes.byteLength });
  call.server.bytesSent += bytes.byteLength;
  call.res.end(bytes);
}

function json(call: Call, code: number, body: object): void {
  reply(call, code, 'application/json', JSON.stringify(body));
}

/** Resolves once the response can take more, or has closed. */
function drained(res: Http2ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes what `next` returns as fast as the client reads, until `next` returns undefined or the
 * response closes (the client gave up, or close()). Returns whether the response is still open. */
async function pump(call: Call, next: () => Buffer | undefined): Promise<boolean> {
  const { res, server } = call;
  let body = 0;
  for (let chunk = next(); chunk; chunk = next()) {
    if (res.destroyed) return false;
    server.bytesSent += chunk.byteLength;
    body += chunk.byteLength;
    server.largestStream = Math.max(server.largestStream, body);
    if (!res.write(chunk)) await drained(res);
  }
  return !res.destroyed;
}

/** Chunks of `block` until more than `bytes` were given, then undefined. */
function blocksOver(bytes: number, block: Buffer): () => Buffer | undefined {
  let given = 0;
  return () => {
    if (given > bytes) return undefined;
    given += block.byteLength;
    return block;
  };
}

/** `head` once, then `block` forever. */
function forever(head: Buffer, block: Buffer): () => Buffer {
  let first = true;
  return () => {
    if (!first) return block;
    first = false;
    return head;
  };
}

function streamHead(call: Call): void {
  call.res.writeHead(200, { 'content-type': 'application/json' });
}

// --- Resources ------------------------------------------------------------------------------

interface Resource {
  kind: string;
  item(i: number): object;
}

const RESOURCES: Record<string, Resource> = {
  pods: {
    kind: 'Pod',
    item: (i) => ({
      metadata: {
        name: `pod-${i}`,
        namespace: 'default',
        uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
        resourceVersion: String(100 + i),
      },
      spec: { containers: [{ name: 'app', image: 'registry.example/app:1.0' }] },
      status: { phase: 'Running' },
    }),
  },
  configmaps: {
    kind: 'ConfigMap',
    item: (i) => ({
      metadata: { name: `config-${i}`, namespace: 'default', resourceVersion: String(100 + i) },
      data: { key: 'value' },
    }),
  },
};

function listHead(resource: Resource): string {
  return `{"kind":"${resource.kind}List","apiVersion":"v1","metadata":{"resourceVersion":"100"},"items":[`;
}

/** About 64 KiB of list items, each preceded by a comma (the first item of a list is not). */
function itemBlock(resource: Resource): Buffer {
  const item = JSON.stringify(resource.item(1));
  return Buffer.from(`,${item}`.repeat(Math.ceil(BLOCK_BYTES / (item.length + 1))));
}

function watchLine(type: string, object: object): string {
  return `${JSON.stringify({ type, object })}\n`;
}

const DISCOVERY: Record<string, object> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
  '/api/v1': {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: Object.entries(RESOURCES).map(([name, r]) => ({
      name,
      singularName: r.kind.toLowerCase(),
      namespaced: true,
      kind: r.kind,
      verbs: ['get', 'list', 'watch'],
    })),
  },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
};

// --- Behaviours -------------------------------------------------------------------------------

/** What any endpoint can do instead of answering normally. */
const FAILURES = {
  /** An internal service's error page: HTML with a secret in it. */
  'error-500-body': (call) =>
    reply(
      call,
      500,
      'text/html; charset=utf-8',
      `<html><body><h1>Internal error</h1><pre>${SECRET_MARKER}</pre></body></html>`,
    ),
  'status-500': (call) => json(call, 500, status(500, 'InternalError', STATUS_500_MESSAGE)),
  forbidden: (call) =>
    json(call, 403, status(403, 'Forbidden', `${call.path} is forbidden: User "hostile" cannot get it`)),
  /** Accepted, never answered: close() ends it. */
  hang: () => undefined,
} satisfies Record<string, Responder>;

const VERSION = {
  normal: (call) =>
    json(call, 200, { major: '1', minor: '33', gitVersion: 'v1.33.0-hostile', platform: 'linux/amd64' }),
  ...FAILURES,
} satisfies Record<string, Responder>;

const DISCOVERY_BEHAVIOURS = {
  normal: (call) => json(call, 200, DISCOVERY[call.path]!),
  ...FAILURES,
} satisfies Record<string, Responder>;

const LIST = {
  /** Two items. */
  normal: (call) => {
    const r = call.resource!;
    json(call, 200, {
      kind: `${r.kind}List`,
      apiVersion: 'v1',
      metadata: { resourceVersion: '100' },
      items: [r.item(1), r.item(2)],
    });
  },
  /** A list that opens like a real one, then items forever. */
  endless: async (call) => {
    const r = call.resource!;
    streamHead(call);
    await pump(call, forever(Buffer.from(listHead(r) + JSON.stringify(r.item(0))), itemBlock(r)));
  },
  /** One finite, valid list larger than sizeBytes, without content-length. */
  'huge-page': async (call) => {
    const r = call.resource!;
    streamHead(call);
    const parts = [Buffer.from(listHead(r) + JSON.stringify(r.item(0)))];
    const more = blocksOver(call.server.settings.sizeBytes, itemBlock(r));
    const next = (): Buffer | undefined => parts.shift() ?? more();
    if (await pump(call, next)) call.res.end(']}');
  },
  ...FAILURES,
} satisfies Record<string, Responder>;

const WATCH = {
  /** One event, then open and quiet. A WatchList request gets the list's two items and the
   * initial-events-end bookmark first, as a kube-apiserver sends them. */
  normal: (call) => {
    streamHead(call);
    const r = call.resource!;
    const initial = call.initial
      ? watchLine('ADDED', r.item(1)) +
        watchLine('ADDED', r.item(2)) +
        watchLine('BOOKMARK', {
          kind: r.kind,
          apiVersion: 'v1',
          metadata: { resourceVersion: '102', annotations: { 'k8s.io/initial-events-end': 'true' } },
        })
      : '';
    const line = initial + watchLine('ADDED', r.item(3));
    call.server.bytesSent += Buffer.byteLength(line);
    call.res.write(line);
  },
  /** The start of an event, then bytes forever and never a newline. */
  'endless-line': async (call) => {
    streamHead(call);
    const head = Buffer.from('{"type":"ADDED","object":{"metadata":{"name":"');
    await pump(call, forever(head, Buffer.alloc(BLOCK_BYTES, 'a')));
  },
  /** One valid event larger than sizeBytes (a huge annotation), its newline, then open and quiet. */
  'huge-event': async (call) => {
    streamHead(call);
    const parts = [Buffer.from('{"type":"ADDED","object":{"metadata":{"name":"huge","annotations":{"filler":"')];
    const filler = blocksOver(call.server.settings.sizeBytes, Buffer.alloc(BLOCK_BYTES, 'x'));
    const tail = [Buffer.from('"}}}}\n')];
    await pump(call, () => parts.shift() ?? filler() ?? tail.shift());
  },
  /** A line that is no JSON, carrying the secret marker. */
  garbage: (call) => {
    streamHead(call);
    const line = `<html>proxy error ${SECRET_MARKER}</html>\n`;
    call.server.bytesSent += Buffer.byteLength(line);
    call.res.write(line);
  },
  ...FAILURES,
} satisfies Record<string, Responder>;

const BEHAVIOURS = { version: VERSION, discovery: DISCOVERY_BEHAVIOURS, list: LIST, watch: WATCH };
type Endpoint = keyof typeof BEHAVIOURS;

export type Behaviours = { [E in Endpoint]: keyof (typeof BEHAVIOURS)[E] } & {
  /** Size that `huge-page` and `huge-event` exceed (default 8 MiB). */
  sizeBytes: number;
  /** Whether WatchList (sendInitialEvents) is served (default); if not, such a watch gets 422 as
   * from an apiserver with the feature off, and a client lists instead. */
  watchList: boolean;
};

const NORMAL: Behaviours = {
  version: 'normal',
  discovery: 'normal',
  list: 'normal',
  watch: 'normal',
  sizeBytes: 8 * MiB,
  watchList: true,
};

/** /api/v1/pods, /api/v1/namespaces/x/configmaps… → the resource. */
const COLLECTION = /^\/api\/v1(?:\/namespaces\/[a-z0-9-]+)?\/([a-z]+)$/;

// --- Server -------------------------------------------------------------------------------------

export class HostileServer {
  settings: Behaviours = { ...NORMAL };
  /** Bytes of response bodies written so far (all requests). */
  bytesSent = 0;
  /** The most one streamed response wrote before it ended or the client cut it (set it to 0 to
   * measure from then on). A reader without a bound would take one endless response whole. */
  largestStream = 0;
  /** HTTP versions seen ("2.0", "1.1"). */
  readonly httpVersions = new Set<string>();
  private readonly counts = new Map<string, number>();
  private readonly open = new Set<Http2ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private port = 0;

  private constructor(
    private readonly server: ReturnType<typeof createSecureServer>,
    readonly ca: string,
  ) {
    server.on('request', (req, res) => this.handle(req, res));
    // A client that resets or drops a connection mid-stream is what these tests do: not an error.
    server.on('sessionError', () => undefined);
    server.on('tlsClientError', () => undefined);
    server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
    });
    server.on('connection', (socket: Socket) => this.track(socket));
    server.on('secureConnection', (socket: Socket) => this.track(socket));
  }

  static async start(): Promise<HostileServer> {
    const pki = await createClusterPki('hostile');
    const server = createSecureServer({ allowHTTP1: true, cert: pki.serving.cert, key: pki.serving.key });
    const hostile = new HostileServer(server, pki.ca.cert);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hostile.port = (server.address() as { port: number }).port;
    return hostile;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Changes what the endpoints do from the next request on. */
  behave(changes: Partial<Behaviours>): void {
    this.settings = { ...this.settings, ...changes };
  }

  /** Back to normal answers. */
  reset(): void {
    this.settings = { ...NORMAL };
  }

  /** Requests so far for a verb and path, e.g. "GET /version", "WATCH /api/v1/pods". */
  requests(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Responses still open (streaming or hanging). */
  get openResponses(): number {
    return this.open.size;
  }

  /** A kubeconfig (JSON) for this server: its CA inline and a bearer token. */
  kubeconfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'hostile',
          cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.ca).toString('base64') },
        },
      ],
      users: [{ name: 'hostile', user: { token: TOKEN } }],
      contexts: [{ name: 'hostile', context: { cluster: 'hostile', user: 'hostile' } }],
      'current-context': 'hostile',
    });
  }

  /** Destroys every connection and stream at once, then stops listening. */
  async close(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(req: Http2ServerRequest, res: Http2ServerResponse): void {
    this.httpVersions.add(req.httpVersion);
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    res.on('error', () => undefined);
    // A client's RST_STREAM ('aborted') otherwise leaves the HTTP/2 stream, with its unsent output,
    // open for seconds: end it now, which also stops a pump.
    req.on('aborted', () => res.destroy());

    const url = new URL(req.url, 'https://hostile');
    const path = url.pathname;
    const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '');
    const key = `${watch ? 'WATCH' : req.method} ${path}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);

    const initial = watch && url.searchParams.get('sendInitialEvents') === 'true';
    const call: Call = { req, res, path, initial, server: this };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      return json(call, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const responder = this.responder(call, watch);
    if (!responder) return json(call, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (initial && !this.settings.watchList) {
      return json(
        call,
        422,
        status(422, 'Invalid', 'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled'),
      );
    }
    void Promise.resolve()
      .then(() => responder(call))
      .catch(() => res.destroy());
  }

  private responder(call: Call, watch: boolean): Responder | undefined {
    const pick = (endpoint: Endpoint): Responder =>
      (BEHAVIOURS[endpoint] as Record<string, Responder>)[this.settings[endpoint]]!;
    if (call.req.method !== 'GET') return undefined;
    if (call.path === '/version') return pick('version');
    if (Object.hasOwn(DISCOVERY, call.path)) return pick('discovery');
    const name = COLLECTION.exec(call.path)?.[1];
    if (!name || !Object.hasOwn(RESOURCES, name)) return undefined;
    call.resource = RESOURCES[name];
    return pick(watch ? 'watch' : 'list');
  }
}
