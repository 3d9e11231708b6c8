import { subscribe } from 'node:diagnostics_channel';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { constants as http2, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { isIP, type LookupFunction } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Agent, buildConnector, Pool, ProxyAgent, type Dispatcher } from 'undici';
import { checkedSecureContext, type ClusterConnectionConfig } from './kubeconfig.js';
import { NetworkPolicyError, type NetworkPolicy } from './network-policy.js';

/** Resolves a host name to all its addresses, as dns.lookup with `all: true`. */
export type Resolver = (
  hostname: string,
  options: LookupOptions & { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export interface TransportOptions {
  /** Which networks servers and proxies may be in; absent: anywhere. */
  networkPolicy?: NetworkPolicy;
  /** Deadline of TCP + TLS (+ CONNECT) setup. Default 10 s. */
  connectTimeoutMs?: number;
  /** Host name resolution (default dns.lookup); a seam for tests. Its answers go through the policy. */
  resolve?: Resolver;
  /** Offer HTTP/2 in TLS (ALPN); default true. bench:transport measures the choice. */
  http2?: boolean;
}

const defaultResolve: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

const unbracket = (host: string): string => host.replace(/^\[(.*)\]$/, '$1');

/**
 * A `lookup` for net/tls.connect that drops addresses the policy denies, and fails with
 * NetworkPolicyError if none is left. The socket connects to exactly the addresses checked
 * here, so a DNS answer that changes between a check and the connect (rebinding) cannot get a
 * denied address past the policy.
 */
export function guardedLookup(policy: NetworkPolicy | undefined, resolve: Resolver = defaultResolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      const allowed = policy ? addresses.filter((a) => policy.check(a.address).allowed) : addresses;
      const first = allowed[0];
      if (!first) {
        const address = addresses[0]?.address ?? '';
        const decision = policy?.check(address) ?? { allowed: true };
        const rule = decision.allowed ? 'allow' : decision.rule;
        callback(new NetworkPolicyError(hostname, address || 'no address', rule), []);
        return;
      }
      if (options.all) callback(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

/** Refuses IP-literal hosts the policy denies before any socket exists (lookup is not called for them). */
function guardConnector(
  connect: buildConnector.connector,
  policy: NetworkPolicy | undefined,
): buildConnector.connector {
  if (!policy) return connect;
  return (opts, callback) => {
    const host = unbracket(opts.hostname);
    const decision = isIP(host) ? policy.check(host) : ({ allowed: true } as const);
    if (!decision.allowed) {
      callback(new NetworkPolicyError(host, host, decision.rule), null);
      return;
    }
    // The socket, so that undici can cancel a connect under way once no request waits for it
    // (ClusterClient.close() aborts them all); without it, a stopped cluster's connect to a server
    // that never finishes TLS ran on to its timeout.
    return connect(opts, callback);
  };
}

function tlsOptions(conn: ClusterConnectionConfig): ConnectionOptions {
  const { ca, cert, key, servername, rejectUnauthorized } = conn.tls;
  const secureContext = checkedSecureContext(conn.tls);
  // The context parseKubeconfig built from the same material: one per cluster, not per socket.
  if (secureContext) return { rejectUnauthorized, secureContext, ...(servername !== undefined && { servername }) };
  return {
    rejectUnauthorized,
    ...(ca !== undefined && { ca }),
    ...(cert !== undefined && { cert }),
    ...(key !== undefined && { key }),
    ...(servername !== undefined && { servername }),
  };
}

/** The proxy answered CONNECT with something other than 200; undici reports that as an
 * AbortError, which would read as "we cancelled it". */
export class ProxyTunnelError extends Error {
  override readonly name = 'ProxyTunnelError';
  readonly code = 'ERR_PROXY_TUNNEL';

  constructor(readonly status: number) {
    const why =
      status === 407
        ? 'the proxy wants credentials, or rejected those in proxy-url'
        : status === 403
          ? 'the proxy does not allow this destination'
          : status >= 500
            ? 'the proxy could not reach the server'
            : 'the proxy refused the tunnel';
    super(`proxy answered CONNECT with ${status}: ${why}`);
  }
}

/** undici's message for a CONNECT answered with another status (pinned by a test). */
const TUNNEL_REFUSED = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling$/;

/** Replaces undici's tunnel refusal by a ProxyTunnelError in whatever the handler receives. */
const tunnelErrors: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => {
  const translated = new Proxy(handler, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === 'onResponseError') {
        return (controller: Dispatcher.DispatchController, err: Error) => {
          const status = TUNNEL_REFUSED.exec(err?.message ?? '')?.[1];
          target.onResponseError?.(controller, status ? new ProxyTunnelError(Number(status)) : err);
        };
      }
      // Methods run on the handler itself, so its state (and private fields) stay in one place.
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return dispatch(options, translated);
};

const ignore = (): void => undefined;

/**
 * Node's HTTP/2 client makes a stream object of its own when response HEADERS arrive for a stream
 * it has already forgotten: a request undici aborted (a reconcile's signal, a deadline, a stopping
 * cluster) while its answer was on the wire. Nobody owns that stream: undici does not listen to a
 * session's 'stream' event, its answer is never read, so it stays open on the connection; and when
 * the connection is destroyed with an error, as every dispatcher.destroy() (ClusterClient.close())
 * does, it emits that error with no listener: an uncaught ClientDestroyedError that ends the
 * process (seen on SIGTERM, from the manage client's close). Such a stream is told apart without
 * doubt: the server started it (its headers are a response, no :method) on a session that
 * disabled server push, as undici's do, where a server may start none. It gets an error sink and
 * is reset at once (CANCEL), which also frees it on the server.
 */
function resetOrphanStream(message: unknown): void {
  const { stream, headers } = message as { stream?: ClientHttp2Stream; headers?: IncomingHttpHeaders };
  if (!stream || headers?.[':method'] !== undefined) return;
  try {
    if (stream.session?.localSettings.enablePush !== false) return;
  } catch {
    return; // the session is already gone, and the stream with it
  }
  stream.on('error', ignore);
  // After Node has finished setting the stream up (it ends its writable side next).
  process.nextTick(() => {
    if (!stream.destroyed) stream.close(http2.NGHTTP2_CANCEL);
  });
}

let orphanGuard = false;

/** Installs resetOrphanStream for the process, once (diagnostics channels are process-wide). */
export function guardOrphanStreams(): void {
  if (orphanGuard) return;
  orphanGuard = true;
  subscribe('http2.client.stream.created', resetOrphanStream);
}

/** Pool settings shared by the direct and the proxied path. */
const POOL_OPTIONS = {
  keepAliveTimeout: 30_000,
  // Every request carries its own deadline (an AbortSignal), and stream() passes the watch's
  // inactivity deadline, so undici's 300 s defaults add nothing. They also cost memory: an
  // HTTP/2 stream that close() destroys between its 'end' and 'close' keeps its timer, and
  // the timer keeps the stream (with its request and error) alive for 300 s.
  headersTimeout: 0,
  bodyTimeout: 0,
  // HTTP/2 flow control: the server may have this much unread data in flight per stream and per
  // connection. undici's 256/512 KiB cap a WatchList at 5 MB/s on a 50 ms path (a far cluster's
  // 1,000 pods took 420-520 ms that way, 171-192 ms with these; client-go's stream window is
  // 4 MiB too). It is also what a paused watch may buffer: at most 8 MiB per cluster.
  h2Options: { initialWindowSize: 4 * 2 ** 20, connectionWindowSize: 8 * 2 ** 20 },
} as const;

/**
 * The connection pool for one cluster: an undici Agent, or a ProxyAgent (HTTP CONNECT) when the
 * kubeconfig names a proxy. Either way the network policy is applied to the addresses this
 * process connects to (the server's, or the proxy's) before connecting. Destroy it to close
 * every socket.
 */
export function createDispatcher(conn: ClusterConnectionConfig, options: TransportOptions = {}): Dispatcher {
  guardOrphanStreams();
  const policy = options.networkPolicy;
  const timeout = options.connectTimeoutMs ?? 10_000;
  const lookup = policy || options.resolve ? guardedLookup(policy, options.resolve) : undefined;
  // TCP keep-alive finds a dead peer under an idle connection. undici speaks HTTP/2 to the
  // apiserver when it offers it (it does), so watches and requests share few connections.
  const socket = { keepAlive: true, keepAliveInitialDelay: 30_000, timeout, ...(lookup && { lookup }) };
  const tls = tlsOptions(conn);

  const allowH2 = options.http2 ?? true;
  if (!conn.proxy) {
    return new Agent({
      ...POOL_OPTIONS,
      allowH2,
      // The connector offers h2 in ALPN unless told not to, and undici speaks whatever the server
      // picked: the Agent's allowH2 alone does not keep a connection on HTTP/1.1.
      connect: guardConnector(buildConnector({ ...tls, ...socket, allowH2 }), policy),
    });
  }

  // The TCP (and for https:// proxies, TLS with the system CAs) connection to the proxy is ours:
  // the policy applies to it. HTTP/1.1 only, so CONNECT is a plain HTTP/1.1 request.
  const toProxy = guardConnector(buildConnector({ ...socket, allowH2: false }), policy);
  const agent = new ProxyAgent({
    ...POOL_OPTIONS,
    uri: conn.proxy.origin,
    ...(conn.proxy.authorization !== undefined && { token: conn.proxy.authorization }),
    // CONNECT for http:// servers too: a forwarding proxy would read every request and its token.
    proxyTunnel: true,
    // TLS to the server, end to end through the tunnel (HTTP/2 if the server offers it): with
    // allowH2 false, the tunnel's TLS uses undici's connector that offers only HTTP/1.1 in ALPN.
    allowH2,
    requestTls: { ...tls, timeout },
    connectTimeout: timeout,
    clientFactory: (origin) => new Pool(origin, { connect: toProxy, allowH2: false }),
  });
  // The proxy resolves the server's host name itself; an IP-literal server is checked here.
  const target = unbracket(conn.server.hostname);
  const decision = policy && isIP(target) ? policy.check(target) : ({ allowed: true } as const);
  if (decision.allowed) return agent.compose(tunnelErrors);
  const rule = decision.rule;
  // undici checks that a dispatch function takes (options, handler).
  return agent.compose(() => (_options, _handler) => {
    throw new NetworkPolicyError(target, target, rule);
  });
}
