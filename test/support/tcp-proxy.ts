import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder in front of a real apiserver, so a test can cut a client off (freeze) while it
 * changes the cluster behind its back, then let it reconnect. It forwards bytes only: TLS and
 * HTTP stay end to end between the client and the apiserver.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private frozen = false;
  private holding = false;
  private parked: Socket[] = [];
  port = 0;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.frozen) {
        client.destroy();
        return;
      }
      if (this.holding) {
        // Accepted but not answered: the client waits, as on a stuck network path.
        client.pause();
        client.on('error', () => undefined);
        this.sockets.add(client);
        this.parked.push(client);
        return;
      }
      this.forward(client);
    });
  }

  private forward(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.resume();
  }

  /** New connections are accepted and left hanging until release(). */
  hold(): void {
    this.holding = true;
  }

  /** Forwards the held connections (their buffered bytes included) and all new ones. */
  release(): void {
    this.holding = false;
    const parked = this.parked;
    this.parked = [];
    for (const client of parked) if (!client.destroyed) this.forward(client);
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Drops every open connection and refuses new ones until thaw(). */
  freeze(): void {
    this.frozen = true;
    for (const s of this.sockets) s.destroy();
  }

  thaw(): void {
    this.frozen = false;
  }

  close(): Promise<void> {
    this.freeze();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Established TCP connections of this process to 127.0.0.1:port (from /proc). */
export async function openSocketsTo(port: number): Promise<number> {
  const { readdirSync, readlinkSync, readFileSync } = await import('node:fs');
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* fd closed meanwhile */
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const remote = cols[2]!;
      const state = cols[3];
      const inode = cols[9]!;
      if (remote.endsWith(`:${hexPort}`) && state === '01' && inodes.has(inode)) count++;
    }
  }
  return count;
}
