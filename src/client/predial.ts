import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';

type Connector = buildConnector.connector;
type ConnectOptions = buildConnector.Options;
type Callback = buildConnector.Callback;

/** An unclaimed connection is closed after this long (spawn() failed, or never got to a request). */
const UNCLAIMED_MS = 30_000;

interface Dial {
  key: string;
  socket?: Socket;
  /** Settled: with an error (then no socket), or with the connected socket. */
  settled: boolean;
  err: Error | null;
  /** The connection that took the dial over while it was still under way. */
  claimant?: Callback;
  timer: NodeJS.Timeout;
}

const keyOf = (o: ConnectOptions): string => `${o.protocol}//${o.hostname}:${o.port}|${o.servername ?? ''}`;

/**
 * The first connection of a cluster's pool, dialled ahead of its first request: spawn() starts
 * TCP and TLS while it builds the cluster's context, so that the handshake (about 5 ms to a local
 * apiserver, a round trip or two more to a far one) overlaps with that work instead of following
 * it. It is a connection, not a request: nothing is sent before the first list.
 *
 * It wraps the pool's connector, so the dial goes through the same network policy and TLS
 * settings as any other. The pool's first connection with the same origin and server name takes
 * it over, still under way or done; any other connection, or one asked for after the dial failed
 * or its socket closed, is dialled afresh, so a wrong guess costs only the dial.
 */
export class Predial {
  private inner?: Connector;
  private dial?: Dial;
  private used = false;

  /** @param origin the server's `https://host:port`, as the pool's requests name it. */
  constructor(private readonly origin: string) {}

  /** The pool's connector: the given one, which hands over the dial when it matches. */
  wrap(inner: Connector): Connector {
    this.inner = inner;
    return (opts, callback) => {
      const dial = this.dial;
      this.dial = undefined;
      if (!dial || dial.key !== keyOf(opts) || (dial.settled && !this.usable(dial))) {
        if (dial) this.close(dial);
        return inner(opts, callback);
      }
      clearTimeout(dial.timer);
      if (!dial.settled) {
        dial.claimant = callback;
        return dial.socket;
      }
      // Called back later, as a fresh dial would be: undici is still inside its connect().
      const socket = dial.socket!;
      queueMicrotask(() => callback(null, socket));
      return socket;
    };
  }

  /** Dials once, if the pool has never connected: later calls, and calls after close(), do nothing. */
  start(): void {
    const inner = this.inner;
    if (!inner || this.used) return;
    this.used = true;
    const url = new URL(this.origin);
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // What undici passes for our requests to this origin: no server name, since they set no Host
    // header; the connector then takes the kubeconfig's tls-server-name, or the host's name.
    const opts = {
      host: url.host,
      hostname,
      protocol: url.protocol,
      port: url.port,
      servername: null,
      localAddress: null,
    } as unknown as ConnectOptions;
    const dial: Dial = {
      key: keyOf(opts),
      settled: false,
      err: null,
      timer: setTimeout(() => this.discard(), UNCLAIMED_MS).unref(),
    };
    this.dial = dial;
    const socket = inner(opts, (err, connected) => {
      dial.settled = true;
      dial.err = err;
      if (connected) dial.socket = connected;
      const claimant = dial.claimant;
      dial.claimant = undefined;
      if (claimant) {
        if (err) claimant(err, null);
        else claimant(null, connected);
      } else if (this.dial !== dial) this.close(dial);
    }) as unknown;
    if (socket && typeof (socket as Socket).destroy === 'function') dial.socket ??= socket as Socket;
  }

  /** Closes a dial nobody took (the pool is being destroyed). */
  discard(): void {
    const dial = this.dial;
    this.dial = undefined;
    if (dial) this.close(dial);
  }

  private usable(dial: Dial): boolean {
    return dial.err === null && dial.socket !== undefined && !dial.socket.destroyed;
  }

  private close(dial: Dial): void {
    clearTimeout(dial.timer);
    // A dial under way is closed when it settles (start's callback sees it is no longer held).
    if (dial.settled || dial.claimant === undefined) dial.socket?.destroy();
  }
}
