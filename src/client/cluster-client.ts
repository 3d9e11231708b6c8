import type { Readable } from 'node:stream';
import {
  createConfiguration,
  KubernetesObjectApi,
  ResponseContext,
  ServerConfiguration,
  wrapHttpLibrary,
  type KubeConfig,
  type RequestContext,
} from '@kubernetes/client-node';
import { Agent, fetch } from 'undici';
import { connectionFrom, type Connection } from './connection.js';
import { deadline } from './deadline.js';
import { KubeApiError } from './errors.js';
import { ResourceResolver } from './resources.js';

type ApiConstructor<T> = new (config: ReturnType<typeof createConfiguration>) => T;

export interface ClusterClientOptions {
  /** The cluster's name, for errors and logs. */
  name: string;
  kubeConfig: KubeConfig;
  /** Deadline of a single non-watch request (default 60 s). */
  requestTimeoutMs?: number;
  userAgent?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface StreamResponse {
  body: Readable;
}

const USER_AGENT = 'clusterregistry/0.1';

function queryString(query: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * One cluster's client. All requests share one connection pool (an undici Agent) that close()
 * destroys, so stopping a cluster leaves no socket behind, and every request is aborted when
 * the client closes. client-node's own request path builds a new Agent per request, which
 * neither reuses connections nor can be closed; its typed API classes are still available
 * through api(), routed through this pool.
 */
export class ClusterClient {
  readonly name: string;
  readonly resources: ResourceResolver;
  private readonly connection: Connection;
  private readonly agent: Agent;
  private readonly closing = new AbortController();
  private readonly requestTimeoutMs: number;
  private readonly userAgent: string;
  private readonly apis = new Map<unknown, unknown>();
  private generatedConfig?: ReturnType<typeof createConfiguration>;

  constructor(options: ClusterClientOptions) {
    this.name = options.name;
    this.connection = connectionFrom(options.kubeConfig);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.userAgent = options.userAgent ?? USER_AGENT;
    this.agent = new Agent({
      // TCP keep-alive finds a dead peer under an idle connection. undici speaks HTTP/2 to the
      // apiserver when it offers it (it does), so watches and requests share few connections.
      connect: { ...this.connection.tls, keepAlive: true, keepAliveInitialDelay: 30_000 },
      keepAliveTimeout: 30_000,
      connectTimeout: 10_000,
      // Every request carries its own deadline (an AbortSignal), and stream() passes the watch's
      // inactivity deadline, so undici's 300 s defaults add nothing. They also cost memory: an
      // HTTP/2 stream that close() destroys between its 'end' and 'close' keeps its timer, and
      // the timer keeps the stream (with its request and error) alive for 300 s.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.resources = new ResourceResolver(this);
  }

  get server(): string {
    return this.connection.origin + this.connection.basePath;
  }

  /** Aborted once close() is called. */
  get signal(): AbortSignal {
    return this.closing.signal;
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** A JSON request. Non-2xx answers throw KubeApiError with the Status reason and message. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const text = await this.send(method, path, options, options.timeoutMs ?? this.requestTimeoutMs);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A streaming GET (watch). `inactivityMs` bounds the silence between two chunks. */
  async stream(
    path: string,
    query: RequestOptions['query'],
    signal: AbortSignal,
    inactivityMs: number,
  ): Promise<StreamResponse> {
    const res = await this.agent.request({
      origin: this.connection.origin,
      path: this.connection.basePath + path + queryString(query),
      method: 'GET',
      headers: await this.headers(),
      signal: AbortSignal.any([signal, this.closing.signal]),
      headersTimeout: inactivityMs,
      bodyTimeout: inactivityMs,
    });
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = await res.body.text().catch(() => '');
      throw KubeApiError.fromResponse(res.statusCode, res.headers, text, `watch ${path}`);
    }
    return { body: res.body };
  }

  /** A client-node typed API (CoreV1Api, AppsV1Api…) that goes through this client's pool. */
  api<T>(type: ApiConstructor<T>): T {
    let api = this.apis.get(type) as T | undefined;
    if (!api) {
      api = new type(this.generated());
      this.apis.set(type, api);
    }
    return api;
  }

  /** client-node's generic object API (any apiVersion/kind) through this client's pool. */
  objects(): KubernetesObjectApi {
    return this.api(KubernetesObjectApi);
  }

  /** Aborts every request and watch in flight and destroys the connection pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing.abort(new Error(`cluster ${this.name}: client closed`));
    await this.agent.destroy().catch(() => undefined);
  }

  private async headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    return {
      accept: 'application/json',
      'user-agent': this.userAgent,
      ...(await this.connection.authHeaders()),
      ...extra,
    };
  }

  private async send(method: string, path: string, options: RequestOptions, timeoutMs: number): Promise<string> {
    const time = deadline(timeoutMs);
    const signals = [this.closing.signal, time.signal];
    if (options.signal) signals.push(options.signal);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    try {
      const res = await this.agent.request({
        origin: this.connection.origin,
        path: this.connection.basePath + path + queryString(options.query),
        method: method,
        headers: await this.headers(
          payload === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' },
        ),
        body: payload,
        signal: AbortSignal.any(signals),
      });
      const text = await res.body.text();
      if (res.statusCode < 200 || res.statusCode >= 300) {
        throw KubeApiError.fromResponse(res.statusCode, res.headers, text, `${method} ${path}`);
      }
      return text;
    } catch (err) {
      // Say what timed out: "aborted due to timeout" alone tells an operator nothing.
      if (time.signal.aborted && (err as { name?: string }).name === 'TimeoutError') {
        throw new DOMException(`${method} ${path}: no answer within ${timeoutMs} ms`, 'TimeoutError');
      }
      throw err;
    } finally {
      time.clear();
    }
  }

  private generated(): ReturnType<typeof createConfiguration> {
    if (this.generatedConfig) return this.generatedConfig;
    const send = async (req: RequestContext): Promise<ResponseContext> => {
      // The deadline covers reading the body too, which client-node does after send() returns.
      const time = deadline(this.requestTimeoutMs);
      const signals = [this.closing.signal, time.signal];
      const own = req.getSignal();
      if (own) signals.push(own);
      let res: Awaited<ReturnType<typeof fetch>>;
      try {
        res = await fetch(req.getUrl(), {
          method: req.getHttpMethod().toString(),
          body: req.getBody() as string | undefined,
          headers: { ...req.getHeaders(), ...(await this.headers()) },
          signal: AbortSignal.any(signals),
          dispatcher: this.agent,
        });
      } catch (err) {
        time.clear();
        throw err;
      }
      const headers: Record<string, string> = {};
      res.headers.forEach((value, name) => (headers[name] = value));
      return new ResponseContext(res.status, headers, {
        text: () => res.text().finally(() => time.clear()),
        binary: async () => Buffer.from(await res.arrayBuffer().finally(() => time.clear())),
        // A streamed body is bounded by the deadline until the timer fires.
        stream: () => res.body as never,
      });
    };
    this.generatedConfig = createConfiguration({
      baseServer: new ServerConfiguration(this.server, {}),
      // Authentication happens in send(); client-node's default would attach a new Agent per request.
      authMethods: { default: { getName: () => 'clusterregistry', applySecurityAuthentication: () => undefined } },
      httpApi: wrapHttpLibrary({ send }),
    });
    return this.generatedConfig;
  }
}
