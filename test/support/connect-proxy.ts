import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface ConnectProxyOptions {
  /** Answer every CONNECT with 403 instead of opening a tunnel. */
  refuse?: boolean;
  /** Require this Proxy-Authorization value; 407 otherwise. */
  authorization?: string;
}

/**
 * A minimal HTTP CONNECT proxy on 127.0.0.1 that counts what it did, so a test can prove its
 * traffic went through a proxy (or that none arrived). It forwards bytes only: TLS stays end to
 * end between the client and the target.
 */
export class ConnectProxy {
  /** TCP connections accepted from clients. */
  connections = 0;
  /** Tunnels opened. */
  tunnels = 0;
  /** CONNECT requests refused (403, 407, or the target did not answer). */
  refused = 0;
  /** Requests that were not CONNECT (a forwarding proxy would have seen them in clear). */
  plainRequests = 0;
  /** Targets of the CONNECT requests, as host:port. */
  readonly targets: string[] = [];
  /** Proxy-Authorization headers received, in order. */
  readonly authorizations: (string | undefined)[] = [];
  port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor(private readonly options: ConnectProxyOptions) {
    this.server = createServer((_req, res) => {
      this.plainRequests++;
      res.writeHead(405).end();
    });
    this.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => this.tunnel(req, client, head));
    this.server.on('connection', (socket: Socket) => {
      this.connections++;
      this.track(socket);
    });
  }

  static async start(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
    const proxy = new ConnectProxy(options);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    const target = req.url ?? '';
    this.targets.push(target);
    const auth = req.headers['proxy-authorization'];
    this.authorizations.push(auth);
    const refuse = (status: string): void => {
      this.refused++;
      client.end(`HTTP/1.1 ${status}\r\n\r\n`);
    };
    if (this.options.refuse) return refuse('403 Forbidden');
    if (this.options.authorization !== undefined && auth !== this.options.authorization) {
      return refuse('407 Proxy Authentication Required');
    }
    const m = /^(.+):(\d+)$/.exec(target);
    if (!m) return refuse('400 Bad Request');
    const upstream = connect(Number(m[2]), m[1]!.replace(/^\[(.*)\]$/, '$1'));
    this.track(upstream);
    const unreachable = (): void => refuse('502 Bad Gateway');
    upstream.once('error', unreachable);
    upstream.once('connect', () => {
      upstream.off('error', unreachable);
      this.tunnels++;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  /** Closes the listener and every connection and tunnel. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
