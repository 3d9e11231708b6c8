import type { Readable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import { deadline } from '../util/abort.js';
import { DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_WATCH_EVENT_BYTES, readBounded } from './body.js';
import { remoteConnection, trustedConnection, type Connection, type ConnectionPolicy } from './connection.js';
import { KubeApiError } from './errors.js';
import type { ClusterConnectionConfig } from './kubeconfig.js';
import type { ManageKubeconfig } from './manage-kubeconfig.js';
import { ResourceResolver } from './resources.js';
import { generatedConfiguration, type ApiConstructor, type GeneratedConfiguration } from './typed-api.js';
import { decodeProtobufWatchEvents, PROTOBUF_WATCH } from './protobuf/watch.js';
import { decodeWatchEvents } from './watch-decoder.js';
import type { WatchEventStream } from './watch-stream.js';

/** What a watch asks for: protobuf first (for the built-in kinds the apiserver encodes so; a
 * custom resource is answered in JSON), as client-go's typed clients do. */
const ACCEPT_PROTOBUF_WATCH = `${PROTOBUF_WATCH}, application/json`;

export interface ClusterClientOptions {
  /** The cluster's name, for errors and logs. */
  name: string;
  /** A remote cluster, from its strictly parsed (untrusted) kubeconfig: see parseKubeconfig. */
  connection?: ClusterConnectionConfig;
  /** How remote connections may be made (network policy); used with `connection`. */
  policy?: ConnectionPolicy;
  /** The operator's own, trusted kubeconfig (the manage cluster): files, token files and exec
   * plugins are honoured. Give this or `connection`. */
  kubeConfig?: KubeConfig | ManageKubeconfig;
  /** Deadline of a single non-watch request (default 60 s). */
  requestTimeoutMs?: number;
  userAgent?: string;
  /** The HTTP transport; by default an undici Agent built from the kubeconfig. Unit tests pass a fake. */
  dispatcher?: Pick<Dispatcher, 'request' | 'destroy'>;
  /** Largest body of a non-watch answer (default 32 MiB; a list page of 500 objects is a few MiB). */
  maxResponseBytes?: number;
  /** Largest single watch event (default 4 MiB; etcd stores objects up to about 1.5 MiB). */
  maxWatchEventBytes?: number;
}

/** What an error answer to a watch may show (its Status); the rest is not read. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Largest body read for this request; it can only lower the client's maxResponseBytes. */
  maxBytes?: number;
}

/** How watch() asks for and reads its events. */
export interface WatchDecoding {
  /** Ask for protobuf (built-in kinds); read whichever of the two the server answers in. */
  protobuf?: boolean;
  /** Leave metadata.managedFields out of objects read from protobuf, unread (for a cache that
   * drops it anyway): JSON builds it whatever we ask, protobuf can skip its bytes. */
  dropManagedFields?: boolean;
  /** Share managedFields' field sets between objects read from protobuf, frozen (for a cache that
   * shares them anyway: see DecodeOptions). */
  shareFieldSets?: boolean;
}

const USER_AGENT = 'clusterregistry/0.1';

function queryString(query: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** What every view of one cluster's client shares: the pool, the connection, the close signal. */
interface Shared {
  name: string;
  connection: Connection;
  closing: AbortController;
  requestTimeoutMs: number;
  userAgent: string;
  maxResponseBytes: number;
  maxWatchEventBytes: number;
  resources?: ResourceResolver;
}

/**
 * One cluster's client. All requests share one connection pool (an undici Agent) that close()
 * destroys, so stopping a cluster leaves no socket behind, and every request is aborted when
 * the client closes. client-node's typed API classes are available through api(), routed
 * through the same pool. withSignal() gives a view whose every request, typed ones included,
 * also ends when that signal aborts: a reconcile's client is such a view of its ctx.signal.
 */
export class ClusterClient {
  private readonly shared: Shared;
  /** Aborts every request of this view (a reconcile's signal); undefined for the client itself. */
  private readonly scope?: AbortSignal;
  private readonly apis = new Map<unknown, unknown>();
  private generatedConfig?: GeneratedConfiguration;

  constructor(options: ClusterClientOptions);
  /** @internal a view sharing `parent`'s pool (without a scope: the client itself, unscoped) */
  constructor(options: ClusterClientOptions | { parent: ClusterClient; scope?: AbortSignal });
  constructor(options: ClusterClientOptions | { parent: ClusterClient; scope?: AbortSignal }) {
    if ('parent' in options) {
      this.shared = options.parent.shared;
      this.scope = options.scope;
      return;
    }
    const connection = options.connection
      ? remoteConnection(options.connection, options.policy, options.dispatcher)
      : options.kubeConfig
        ? trustedConnection(options.kubeConfig, options.dispatcher)
        : undefined;
    if (!connection) throw new Error(`cluster ${options.name}: a ClusterClient needs a connection or a kubeConfig`);
    this.shared = {
      name: options.name,
      connection,
      closing: new AbortController(),
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
      userAgent: options.userAgent ?? USER_AGENT,
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      maxWatchEventBytes: options.maxWatchEventBytes ?? DEFAULT_MAX_WATCH_EVENT_BYTES,
    };
  }

  get name(): string {
    return this.shared.name;
  }

  get server(): string {
    return this.shared.connection.origin + this.shared.connection.basePath;
  }

  /** Discovery of kinds to resources, shared by every view. It asks through the client itself,
   * never through the view that happened to ask first: that view's signal (a reconcile that
   * timed out) would fail every later lookup of the cluster. */
  get resources(): ResourceResolver {
    return (this.shared.resources ??= new ResourceResolver(this.scope ? new ClusterClient({ parent: this }) : this));
  }

  /** What the client was made from (a keyed hash of the parsed kubeconfig; none for a trusted one). */
  get identity(): string | undefined {
    return this.shared.connection.identity;
  }

  /** The kind of credential it presents: a 401 names the one to fix. */
  get credential(): Connection['credential'] {
    return this.shared.connection.credential;
  }

  /** Aborted once close() is called. */
  get signal(): AbortSignal {
    return this.shared.closing.signal;
  }

  /** Largest single watch event, hence largest single object, this client accepts. */
  get maxObjectBytes(): number {
    return this.shared.maxWatchEventBytes;
  }

  get closed(): boolean {
    return this.shared.closing.signal.aborted;
  }

  /** A view of this client whose every request also ends when `signal` aborts. */
  withSignal(signal: AbortSignal): ClusterClient {
    return new ClusterClient({ parent: this, scope: signal });
  }

  /** A JSON request. Non-2xx answers throw KubeApiError with the Status reason and message. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const { status, headers, body } = await this.exchange({
      method,
      path: path + queryString(options.query),
      headers: payload === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' },
      body: payload,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? this.shared.requestTimeoutMs,
      maxBytes: Math.min(options.maxBytes ?? Infinity, this.shared.maxResponseBytes),
    });
    if (status < 200 || status >= 300) throw KubeApiError.fromResponse(status, headers, body, `${method} ${path}`);
    if (body.byteLength === 0) return undefined as T;
    try {
      return JSON.parse(body.toString('utf8')) as T;
    } catch {
      // JSON.parse's message quotes the input: whatever answered must not be reflected.
      throw new KubeApiError(
        status,
        '',
        `${method} ${path}: HTTP ${status} answer is not JSON (${body.byteLength} bytes)`,
      );
    }
  }

  /** A streaming GET: the raw body, for watches. `inactivityMs` bounds the silence between two
   * chunks; a non-2xx answer throws KubeApiError. */
  async stream(
    path: string,
    query: RequestOptions['query'],
    signal: AbortSignal,
    inactivityMs: number,
    accept?: string,
  ): Promise<{ body: Readable; contentType: string }> {
    const { connection } = this.shared;
    const { dispatcher } = connection;
    // Linked to the client, the view and the caller until the stream is over (see util/abort).
    const link = deadline(undefined, this.shared.closing.signal, this.scope, signal);
    try {
      const res = await dispatcher.request({
        origin: connection.origin,
        path: connection.basePath + path + queryString(query),
        method: 'GET',
        headers: await this.headers(accept === undefined ? {} : { accept }),
        signal: link.signal,
        headersTimeout: inactivityMs,
        bodyTimeout: inactivityMs,
      });
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const what = `watch ${path}`;
        const body = await readBounded(res.body, MAX_ERROR_BODY_BYTES, what).catch(() => Buffer.alloc(0));
        throw KubeApiError.fromResponse(res.statusCode, res.headers, body, what);
      }
      res.body.once('close', () => link.clear());
      const contentType = res.headers['content-type'];
      return { body: res.body, contentType: typeof contentType === 'string' ? contentType : '' };
    } catch (err) {
      link.clear();
      throw err;
    }
  }

  /** A watch: decoded events until the server ends the stream (see stream()). With `protobuf`, it
   * asks for protobuf and reads whichever of the two the server answers in; the events' objects
   * have the JSON shape either way. */
  async watch(
    path: string,
    query: RequestOptions['query'],
    signal: AbortSignal,
    inactivityMs: number,
    { protobuf = false, dropManagedFields = false, shareFieldSets = false }: WatchDecoding = {},
  ): Promise<WatchEventStream> {
    const { body, contentType } = await this.stream(
      path,
      query,
      signal,
      inactivityMs,
      protobuf ? ACCEPT_PROTOBUF_WATCH : undefined,
    );
    const options = { maxEventBytes: this.shared.maxWatchEventBytes, what: `watch ${path}` };
    return protobuf && contentType.startsWith('application/vnd.kubernetes.protobuf')
      ? decodeProtobufWatchEvents(body, { ...options, dropManagedFields, shareFieldSets })
      : decodeWatchEvents(body, options);
  }

  /** A client-node typed API (CoreV1Api, AppsV1Api…) that goes through this client's pool; on a
   * view, its calls end when the view's signal aborts. */
  api<T>(type: ApiConstructor<T>): T {
    let api = this.apis.get(type) as T | undefined;
    if (!api) {
      this.generatedConfig ??= generatedConfiguration(this.server, async (call) => {
        const url = new URL(call.url);
        const answer = await this.exchange({
          method: call.method,
          path: url.pathname.slice(this.shared.connection.basePath.length) + url.search,
          headers: call.headers,
          body: call.body,
          signal: call.signal,
          timeoutMs: this.shared.requestTimeoutMs,
        });
        return { status: answer.status, headers: flatHeaders(answer.headers), body: answer.body };
      });
      api = new type(this.generatedConfig);
      this.apis.set(type, api);
    }
    return api;
  }

  /** Aborts every request and watch in flight and destroys the connection pool. */
  async close(): Promise<void> {
    if (this.scope) throw new Error('close() the client, not one of its views');
    if (this.closed) return;
    this.shared.closing.abort(new Error(`cluster ${this.name}: client closed`));
    await this.shared.connection.dispatcher.destroy().catch(() => undefined);
  }

  private async headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    return {
      accept: 'application/json',
      'user-agent': this.shared.userAgent,
      ...extra,
      ...(await this.shared.connection.authHeaders()),
    };
  }

  /** One request with a deadline that covers reading the whole body. */
  private async exchange(req: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
    timeoutMs: number;
    maxBytes?: number;
  }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const { connection } = this.shared;
    const { dispatcher } = connection;
    const time = deadline(req.timeoutMs, this.shared.closing.signal, this.scope, req.signal);
    try {
      const res = await dispatcher.request({
        origin: connection.origin,
        path: connection.basePath + req.path,
        method: req.method,
        headers: await this.headers(req.headers),
        body: req.body,
        signal: time.signal,
      });
      const what = `${req.method} ${req.path.split('?')[0]}`;
      const body = await readBounded(
        res.body,
        req.maxBytes ?? this.shared.maxResponseBytes,
        what,
        res.headers['content-length'],
      );
      return { status: res.statusCode, headers: res.headers, body };
    } catch (err) {
      // Say what timed out: "aborted due to timeout" alone tells an operator nothing.
      if (time.expired) {
        throw new DOMException(`${req.method} ${req.path}: no answer within ${req.timeoutMs} ms`, 'TimeoutError');
      }
      throw err;
    } finally {
      time.clear();
    }
  }
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
