import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { constants as http2, createSecureServer, type ClientHttp2Stream, type Http2SecureServer } from 'node:http2';
import { createServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fetch, type Dispatcher } from 'undici';
import { failureReason } from '../../../src/client/errors.js';
import { parseKubeconfig, type ClusterConnectionConfig, type TransportPolicy } from '../../../src/client/kubeconfig.js';
import { embeddedIPv4, NetworkPolicy, NetworkPolicyError } from '../../../src/client/network-policy.js';
import { createDispatcher, ProxyTunnelError, type Resolver } from '../../../src/client/transport.js';
import { createClusterPki, type ClusterPki } from '../../../src/envtest/pki.js';
import { ConnectProxy, type ConnectProxyOptions } from '../../support/connect-proxy.js';
import { eventually } from '../../support/poll.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** An HTTPS (HTTP/2 and 1.1) server that says who called it and how, and counts TCP connections. */
class EchoServer {
  connections = 0;
  readonly sockets = new Set<Socket>();
  port = 0;
  private readonly server: Http2SecureServer;

  constructor(pki: ClusterPki) {
    this.server = createSecureServer(
      { ...pki.serving, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false, allowHTTP1: true },
      (req, res) => {
        const peer = (req.socket as unknown as TLSSocket).getPeerCertificate();
        // What the client lets this server send without waiting (HTTP/2 flow control).
        const session = req.stream?.session;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            httpVersion: req.httpVersion,
            authorization: req.headers.authorization ?? null,
            clientCN: peer?.subject?.CN ?? null,
            path: req.url,
            streamWindow: session?.remoteSettings.initialWindowSize ?? null,
            connectionWindow: session?.state.remoteWindowSize ?? null,
          }),
        );
      },
    );
    this.server.on('connection', (socket: Socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Resolves once every connection to the server has closed (the set holds those not closed yet). */
  async drained(): Promise<void> {
    await Promise.all([...this.sockets].map((s) => once(s, 'close')));
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let pki: ClusterPki;
let other: ClusterPki;
let server: EchoServer;
const open: Dispatcher[] = [];
const proxies: ConnectProxy[] = [];

beforeAll(async () => {
  [pki, other] = await Promise.all([createClusterPki('transport'), createClusterPki('other')]);
  server = new EchoServer(pki);
  await server.start();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.destroy()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await server.close();
});

/** A connection description the way the runtime gets one: parsed from a kubeconfig. */
function connection(
  opts: { host?: string; port?: number; proxy?: string; ca?: string; cluster?: Record<string, unknown> } = {},
  policy?: TransportPolicy,
): ClusterConnectionConfig {
  const cluster = {
    server: `https://${opts.host ?? '127.0.0.1'}:${opts.port ?? server.port}`,
    'certificate-authority-data': b64(opts.ca ?? pki.ca.cert),
    ...(opts.proxy && { 'proxy-url': opts.proxy }),
    ...opts.cluster,
  };
  const user = {
    token: 'tok-123',
    'client-certificate-data': b64(pki.admin.cert),
    'client-key-data': b64(pki.admin.key),
  };
  return parseKubeconfig(
    JSON.stringify({
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
    policy,
  );
}

function dispatcher(...args: Parameters<typeof createDispatcher>): Dispatcher {
  const d = createDispatcher(...args);
  open.push(d);
  return d;
}

async function startProxy(options?: ConnectProxyOptions): Promise<ConnectProxy> {
  const proxy = await ConnectProxy.start(options);
  proxies.push(proxy);
  return proxy;
}

interface Echo {
  httpVersion: string;
  authorization: string | null;
  clientCN: string | null;
  path: string;
  streamWindow: number | null;
  connectionWindow: number | null;
}

async function get(d: Dispatcher, conn: ClusterConnectionConfig): Promise<Echo> {
  const res = await d.request({
    origin: conn.server.origin,
    path: `${conn.server.basePath}/version`,
    method: 'GET',
    headers: { authorization: 'Bearer tok-123' },
  });
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as Echo;
}

/** A port nothing listens on: one a proxy of ours listened on, now closed. */
async function closedPort(): Promise<number> {
  const proxy = await ConnectProxy.start();
  await proxy.close();
  return proxy.port;
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/**
 * Aborts requests a few event-loop turns after they go, around when their answers come back, until
 * some answers were orphaned; asserts that each orphan got an error sink and was reset (CANCEL).
 */
async function orphanedAnswersAreReset(conn: ClusterConnectionConfig): Promise<void> {
  const orphans: ClientHttp2Stream[] = [];
  const record = (message: unknown): void => {
    const { stream, headers } = message as { stream: ClientHttp2Stream; headers?: Record<string, unknown> };
    if (headers?.[':method'] === undefined) orphans.push(stream);
  };
  const d = createDispatcher(conn);
  subscribe('http2.client.stream.created', record);
  const turns = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const step = (k: number): void => void (k <= 0 ? resolve() : setImmediate(() => step(k - 1)));
      step(n);
    });
  const started = Date.now();
  try {
    while (orphans.length < 5 && Date.now() - started < 20_000) {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const abort = new AbortController();
          void turns(Math.floor(Math.random() * 12)).then(() => abort.abort());
          try {
            const res = await d.request({
              origin: conn.server.origin,
              path: '/version',
              method: 'GET',
              signal: abort.signal,
            });
            await res.body.text();
          } catch {
            /* aborted, as intended */
          }
        }),
      );
    }
  } finally {
    unsubscribe('http2.client.stream.created', record);
  }
  expect(orphans.length).toBeGreaterThanOrEqual(5);
  // Each has an error sink and is reset (CANCEL) rather than left open on the connection; one
  // whose whole answer had arrived before the reset's turn closed by itself (NO_ERROR, seen under
  // load), which is as good: it is no longer on the connection either.
  await eventually('every orphaned stream closed', () => (orphans.every((s) => s.closed) ? true : undefined));
  for (const stream of orphans) {
    expect(stream.listenerCount('error')).toBeGreaterThan(0);
    expect([http2.NGHTTP2_CANCEL, http2.NGHTTP2_NO_ERROR]).toContain(stream.rstCode);
  }
  await d.destroy();
  await server.drained();
}

describe('createDispatcher: direct', () => {
  it('verifies the server with the kubeconfig CA, presents the client certificate and speaks HTTP/2', async () => {
    const conn = connection();
    const echo = await get(dispatcher(conn), conn);
    expect(echo).toMatchObject({
      httpVersion: '2.0',
      authorization: 'Bearer tok-123',
      clientCN: 'admin',
      path: '/version',
    });
  });

  it('speaks HTTP/1.1 when HTTP/2 is turned off (bench:transport measures the two)', async () => {
    const conn = connection();
    const echo = await get(dispatcher(conn, { http2: false }), conn);
    expect(echo).toMatchObject({ httpVersion: '1.1', path: '/version' });
  });

  it("opens HTTP/2 windows of 4 MiB per stream and 8 MiB per connection (a far cluster's list is not held to 512 KiB per round trip)", async () => {
    const conn = connection();
    const echo = await get(dispatcher(conn), conn);
    expect(echo.streamWindow).toBe(4 * 2 ** 20);
    // The connection window is raised by a WINDOW_UPDATE right after the preface, which the
    // server has read before it reads the request.
    expect(echo.connectionWindow).toBe(8 * 2 ** 20);
  });

  it('refuses a server its CA does not verify, as ServerCertificateUntrusted', async () => {
    const conn = connection({ ca: other.ca.cert });
    const err = await rejection(get(dispatcher(conn), conn));
    expect(failureReason(err)).toBe('ServerCertificateUntrusted');
  });

  it('skips verification only when the operator allowed insecure kubeconfigs', async () => {
    const conn = connection(
      { cluster: { 'certificate-authority-data': null, 'insecure-skip-tls-verify': true } },
      {
        allowInsecure: true,
      },
    );
    expect((await get(dispatcher(conn), conn)).clientCN).toBe('admin');
  });

  it('closes every connection when destroyed', async () => {
    const conn = connection();
    const d = createDispatcher(conn);
    await get(d, conn);
    expect(server.sockets.size).toBeGreaterThan(0);
    await d.destroy();
    await server.drained();
    expect(server.sockets.size).toBe(0);
  });

  it('resets the streams Node makes for answers to aborted requests, so destroy() cannot crash the process', async () => {
    // An answer that arrives just after its request was aborted becomes a stream nobody owns (see
    // resetOrphanStream); destroying the connection used to emit ClientDestroyedError on it with no
    // listener, an uncaught exception.
    await orphanedAnswersAreReset(connection());
  });
});

describe('createDispatcher: through an HTTP CONNECT proxy', () => {
  it('tunnels to the server; TLS and HTTP/2 stay end to end', async () => {
    const proxy = await startProxy();
    const conn = connection({ proxy: proxy.url });
    const echo = await get(dispatcher(conn), conn);
    expect(echo).toMatchObject({ httpVersion: '2.0', clientCN: 'admin', authorization: 'Bearer tok-123' });
    expect(echo).toMatchObject({ streamWindow: 4 * 2 ** 20, connectionWindow: 8 * 2 ** 20 });
    expect(proxy.tunnels).toBe(1);
    expect(proxy.targets).toEqual([`127.0.0.1:${server.port}`]);
    expect(proxy.authorizations).toEqual([undefined]);
    expect(proxy.plainRequests).toBe(0);
  });

  it('speaks HTTP/1.1 through the tunnel when HTTP/2 is turned off', async () => {
    const proxy = await startProxy();
    const conn = connection({ proxy: proxy.url });
    const echo = await get(dispatcher(conn, { http2: false }), conn);
    expect(echo).toMatchObject({ httpVersion: '1.1', clientCN: 'admin', path: '/version' });
    expect(proxy.tunnels).toBe(1);
  });

  it('serves undici fetch too (the typed client-node APIs go through it)', async () => {
    const proxy = await startProxy();
    for (const conn of [connection(), connection({ proxy: proxy.url })]) {
      const res = await fetch(`${conn.server.origin}/version`, { dispatcher: dispatcher(conn) });
      expect(((await res.json()) as Echo).clientCN).toBe('admin');
    }
    expect(proxy.tunnels).toBe(1);
  });

  it('sends the URL user-info as Proxy-Authorization to the proxy only', async () => {
    const authorization = `Basic ${b64('me:p@ss')}`;
    const proxy = await startProxy({ authorization });
    const conn = connection({ proxy: `http://me:p%40ss@127.0.0.1:${proxy.port}` }, { allowInsecure: true });
    const echo = await get(dispatcher(conn), conn);
    expect(proxy.authorizations).toEqual([authorization]);
    expect(echo.authorization).toBe('Bearer tok-123');
  });

  it('fails with the proxy status, without reaching the server, when the proxy refuses the tunnel', async () => {
    const cases: [ConnectProxyOptions, number][] = [
      [{ refuse: true }, 403],
      [{ authorization: 'Basic eA==' }, 407],
    ];
    for (const [options, status] of cases) {
      const proxy = await startProxy(options);
      const before = server.connections;
      const conn = connection({ proxy: proxy.url });
      const err = await rejection(get(dispatcher(conn), conn));
      // Not undici's AbortError, which would read as a cancelled request.
      expect(err).toBeInstanceOf(ProxyTunnelError);
      expect((err as ProxyTunnelError).status).toBe(status);
      expect(proxy.refused).toBe(1);
      expect(proxy.tunnels).toBe(0);
      expect(server.connections).toBe(before);
    }
  });

  it('reports a server the proxy cannot reach as a 502 from the proxy', async () => {
    const proxy = await startProxy();
    const conn = connection({ proxy: proxy.url, port: await closedPort() });
    const err = await rejection(get(dispatcher(conn), conn));
    expect(err).toBeInstanceOf(ProxyTunnelError);
    expect(err.message).toBe('proxy answered CONNECT with 502: the proxy could not reach the server');
  });

  it('fails when the proxy is down: no silent fallback to a direct connection', async () => {
    const before = server.connections;
    const conn = connection({ proxy: `http://127.0.0.1:${await closedPort()}` });
    const err = await rejection(get(dispatcher(conn), conn));
    expect(failureReason(err)).toBe('Unreachable');
    expect(server.connections).toBe(before);
  });

  it('closes the tunnel when destroyed', async () => {
    const proxy = await startProxy();
    const conn = connection({ proxy: proxy.url });
    const d = createDispatcher(conn);
    await get(d, conn);
    await d.destroy();
    await server.drained();
    expect(server.sockets.size).toBe(0);
  });

  it('resets orphaned answer streams through the tunnel too', async () => {
    const proxy = await startProxy();
    await orphanedAnswersAreReset(connection({ proxy: proxy.url }));
  });
});

describe('createDispatcher: network policy', () => {
  const loopback = NetworkPolicy.from({ deny: ['127.0.0.0/8', '::1/128'] });

  it('refuses a denied IP-literal server before any connection', async () => {
    const before = server.connections;
    const conn = connection();
    const err = await rejection(get(dispatcher(conn, { networkPolicy: loopback }), conn));
    expect(err).toBeInstanceOf(NetworkPolicyError);
    expect(err.message).toBe('127.0.0.1 is in 127.0.0.0/8, which the operator denies for remote clusters');
    expect(server.connections).toBe(before);
  });

  it('refuses a host name that resolves to a denied address, before any connection', async () => {
    const before = server.connections;
    const conn = connection({ host: 'localhost' });
    const err = await rejection(get(dispatcher(conn, { networkPolicy: loopback }), conn));
    expect(err).toBeInstanceOf(NetworkPolicyError);
    expect(err.message).toMatch(/^localhost \((127\.0\.0\.1|::1)\) is in/);
    expect(server.connections).toBe(before);
  });

  it('cancels a connect under way once no request waits for it: a server that never finishes TLS is not held to the connect timeout', async () => {
    // Accepts TCP and never answers the TLS handshake.
    const held = new Set<Socket>();
    const silent = createServer((socket) => {
      // Reading, so that the client's close is seen.
      socket.resume();
      held.add(socket);
      socket.on('close', () => held.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const conn = connection({ port: (silent.address() as { port: number }).port });
      const d = dispatcher(conn, {
        networkPolicy: NetworkPolicy.from({ deny: ['192.0.2.0/24'] }),
        connectTimeoutMs: 120_000,
      });
      // As ClusterClient.close() does: every request's signal aborts.
      const abort = new AbortController();
      const request = d
        .request({ origin: conn.server.origin, path: '/version', method: 'GET', signal: abort.signal })
        .catch((err: unknown) => err);
      await eventually('the connect reached the server', () => (held.size === 1 ? true : undefined));
      abort.abort(new Error('cluster stopped'));
      expect(await request).toBeInstanceOf(Error);
      // Well inside the connect timeout: only a cancelled connect closes the socket this soon.
      await eventually('the connect was cancelled', () => (held.size === 0 ? true : undefined), 20_000);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('connects where the allow list permits', async () => {
    const conn = connection({ host: 'localhost' });
    const d = dispatcher(conn, { networkPolicy: NetworkPolicy.from({ allow: ['127.0.0.0/8'] }) });
    expect((await get(d, conn)).clientCN).toBe('admin');
  });

  it('checks the address each new connection resolves to (DNS rebinding)', async () => {
    const answers = ['127.0.0.1', '169.254.169.254'];
    const asked: string[] = [];
    const resolve: Resolver = (hostname, _options, callback) => {
      asked.push(hostname);
      callback(null, [{ address: answers.shift() ?? '169.254.169.254', family: 4 }]);
    };
    const conn = connection({ host: 'localhost' });
    const d = dispatcher(conn, { networkPolicy: NetworkPolicy.from({}), resolve });
    expect((await get(d, conn)).clientCN).toBe('admin');
    // Drop the connection: the next request connects again and resolves again.
    const disconnected = once(d, 'disconnect');
    for (const s of server.sockets) s.destroy();
    await disconnected;
    const before = server.connections;
    const err = await rejection(get(d, conn));
    expect(err).toBeInstanceOf(NetworkPolicyError);
    expect(err.message).toBe(
      'localhost (169.254.169.254) is in 169.254.0.0/16, which the operator denies for remote clusters',
    );
    expect(asked).toEqual(['localhost', 'localhost']);
    expect(server.connections).toBe(before);
  });

  it('applies to the proxy address, and the proxy is never contacted when denied', async () => {
    const proxy = await startProxy();
    const before = server.connections;
    // A host name is resolved by the proxy, so only the proxy address (127.0.0.1) is ours to check.
    const conn = connection({ host: 'localhost', proxy: proxy.url });
    const err = await rejection(get(dispatcher(conn, { networkPolicy: loopback }), conn));
    expect(err).toBeInstanceOf(NetworkPolicyError);
    expect(err.message).toBe('127.0.0.1 is in 127.0.0.0/8, which the operator denies for remote clusters');
    expect(proxy.connections).toBe(0);
    expect(server.connections).toBe(before);
  });

  it('refuses an IP-literal server behind a proxy when the server address is denied', async () => {
    const proxy = await startProxy();
    const conn = connection({ host: '169.254.169.254', port: 443, proxy: proxy.url });
    const err = await rejection(get(dispatcher(conn, { networkPolicy: NetworkPolicy.from({}) }), conn));
    expect(err).toBeInstanceOf(NetworkPolicyError);
    expect(proxy.connections).toBe(0);
  });
});

describe('NetworkPolicy', () => {
  const defaults = NetworkPolicy.from();

  it('denies link-local (cloud metadata) by default, in every form that reaches it', () => {
    for (const address of [
      '169.254.169.254',
      'fe80::1',
      'fe80::1%eth0',
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      '64:ff9b::169.254.169.254',
      'fd00:ec2::254',
      '[fe80::1]',
    ]) {
      expect({ address, ...defaults.check(address) }).toMatchObject({ address, allowed: false });
    }
    expect(defaults.check('::ffff:169.254.169.254')).toEqual({ allowed: false, rule: '169.254.0.0/16' });
    for (const address of ['10.0.0.1', '127.0.0.1', '::1', '2001:db8::1', '::ffff:10.0.0.1', '169.255.0.1']) {
      expect({ address, ...defaults.check(address) }).toEqual({ address, allowed: true });
    }
  });

  it('refuses anything that is not an IP address', () => {
    expect(defaults.check('localhost')).toEqual({ allowed: false, rule: 'allow' });
    expect(defaults.check('')).toEqual({ allowed: false, rule: 'allow' });
  });

  it('allows only the allow list when there is one; deny wins; defaults can be dropped', () => {
    const p = NetworkPolicy.from({ allow: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'], deny: ['10.9.0.0/16'] });
    expect(p.check('10.1.2.3').allowed).toBe(true);
    expect(p.check('::ffff:10.1.2.3').allowed).toBe(true);
    expect(p.check('2001:db8::5').allowed).toBe(true);
    expect(p.check('192.0.2.7').allowed).toBe(true);
    expect(p.check('192.0.2.8')).toEqual({ allowed: false, rule: 'allow' });
    expect(p.check('10.9.1.1')).toEqual({ allowed: false, rule: '10.9.0.0/16' });
    expect(p.check('11.0.0.1')).toEqual({ allowed: false, rule: 'allow' });
    expect(NetworkPolicy.from({ allow: ['169.254.0.0/16'] }).check('169.254.1.1').allowed).toBe(false);
    expect(NetworkPolicy.from({ defaultDeny: false }).check('169.254.1.1').allowed).toBe(true);
  });

  it('names the host, address and rule in its error', () => {
    expect(() => defaults.assertAllowed('metadata.internal', '169.254.169.254')).toThrow(
      'metadata.internal (169.254.169.254) is in 169.254.0.0/16, which the operator denies for remote clusters',
    );
    expect(() => NetworkPolicy.from({ allow: ['10.0.0.0/8'] }).assertAllowed('1.2.3.4', '1.2.3.4')).toThrow(
      '1.2.3.4 is not in any network the operator allows for remote clusters',
    );
    const err = new NetworkPolicyError('h', '1.2.3.4', 'allow');
    expect({ reason: err.reason, code: err.code, name: err.name }).toEqual({
      reason: 'NetworkNotAllowed',
      code: 'ERR_NETWORK_NOT_ALLOWED',
      name: 'NetworkPolicyError',
    });
  });

  it('refuses a malformed CIDR in the settings, naming it', () => {
    for (const bad of ['10.0.0.0/33', 'fe80::/129', '10.0.0.0/8/1', 'example.com', '10.0.0.0/', '10.0.0.0/-1']) {
      expect(() => NetworkPolicy.from({ deny: [bad] })).toThrow(`network policy deny entry "${bad}"`);
    }
  });

  it('reads the IPv4 address inside mapped and NAT64 IPv6 addresses', () => {
    expect(embeddedIPv4('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(embeddedIPv4('::ffff:102:304')).toBe('1.2.3.4');
    expect(embeddedIPv4('0:0:0:0:0:ffff:0102:0304')).toBe('1.2.3.4');
    expect(embeddedIPv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('2001:db8::1.2.3.4')).toBeUndefined();
    expect(embeddedIPv4('::1')).toBeUndefined();
    expect(embeddedIPv4('1.2.3.4')).toBeUndefined();
  });
});
