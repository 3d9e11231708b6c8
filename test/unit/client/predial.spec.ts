import { jest } from '@jest/globals';
import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';
import { Predial } from '../../../src/client/predial.js';

/** A connector whose dials the test settles by hand, and the sockets it made. */
class FakeConnector {
  readonly dials: { opts: buildConnector.Options; socket: Socket; settle: (err?: Error) => void }[] = [];

  readonly connect: buildConnector.connector = (opts, callback) => {
    const socket = { destroyed: false, destroy: () => ((socket.destroyed = true), socket) } as unknown as Socket & {
      destroyed: boolean;
    };
    this.dials.push({
      opts,
      socket,
      settle: (err) => (err ? callback(err, null) : callback(null, socket)),
    });
    return socket;
  };
}

const ORIGIN = 'https://127.0.0.1:6443';
/** What undici passes for a request to ORIGIN (our requests name no server: no Host header). */
const asked = (over: Partial<buildConnector.Options> = {}): buildConnector.Options =>
  ({
    host: '127.0.0.1:6443',
    hostname: '127.0.0.1',
    protocol: 'https:',
    port: '6443',
    servername: null,
    localAddress: null,
    ...over,
  }) as buildConnector.Options;

/** Calls the wrapped connector as undici does; resolves with what it is called back with. */
function claim(
  connect: buildConnector.connector,
  opts = asked(),
): Promise<{ err: Error | null; socket: Socket | null }> {
  return new Promise((resolve) => connect(opts, (err, socket) => resolve({ err, socket: socket })));
}

describe('Predial', () => {
  let fake: FakeConnector;
  let predial: Predial;
  let connect: buildConnector.connector;

  beforeEach(() => {
    fake = new FakeConnector();
    predial = new Predial(ORIGIN);
    connect = predial.wrap(fake.connect);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('dials with what undici will ask for, and hands the connection over once it is up', async () => {
    predial.start();
    expect(fake.dials).toHaveLength(1);
    expect(fake.dials[0]!.opts).toMatchObject({
      hostname: '127.0.0.1',
      port: '6443',
      protocol: 'https:',
      servername: null,
    });
    fake.dials[0]!.settle();
    const got = await claim(connect);
    expect(got).toEqual({ err: null, socket: fake.dials[0]!.socket });
    expect(fake.dials).toHaveLength(1);
  });

  it('a connection asked for while the dial is under way waits for it instead of dialling again', async () => {
    predial.start();
    const claimed = claim(connect);
    fake.dials[0]!.settle();
    expect(await claimed).toEqual({ err: null, socket: fake.dials[0]!.socket });
    expect(fake.dials).toHaveLength(1);
  });

  it('passes on the error of a dial under way, as that dial would have', async () => {
    predial.start();
    const claimed = claim(connect);
    fake.dials[0]!.settle(new Error('connect ECONNREFUSED'));
    expect((await claimed).err?.message).toBe('connect ECONNREFUSED');
    expect(fake.dials).toHaveLength(1);
  });

  it('dials afresh when the dial had failed before it was asked for', async () => {
    predial.start();
    fake.dials[0]!.settle(new Error('connect ECONNREFUSED'));
    const claimed = claim(connect);
    expect(fake.dials).toHaveLength(2);
    fake.dials[1]!.settle();
    expect(await claimed).toEqual({ err: null, socket: fake.dials[1]!.socket });
  });

  it('dials afresh when its socket closed meanwhile', async () => {
    predial.start();
    fake.dials[0]!.settle();
    fake.dials[0]!.socket.destroy();
    const claimed = claim(connect);
    expect(fake.dials).toHaveLength(2);
    fake.dials[1]!.settle();
    expect((await claimed).socket).toBe(fake.dials[1]!.socket);
  });

  it('never hands a connection verified for another server name: that one is closed and dialled afresh', async () => {
    predial.start();
    fake.dials[0]!.settle();
    const claimed = claim(connect, asked({ servername: 'other.example' }));
    expect(fake.dials).toHaveLength(2);
    expect(fake.dials[0]!.socket.destroyed).toBe(true);
    fake.dials[1]!.settle();
    expect((await claimed).socket).toBe(fake.dials[1]!.socket);
  });

  it('dials once: a second start(), or one after the pool connected, does nothing', async () => {
    predial.start();
    predial.start();
    expect(fake.dials).toHaveLength(1);
    fake.dials[0]!.settle();
    await claim(connect);
    predial.start();
    expect(fake.dials).toHaveLength(1);
    // The pool's later connections are its own.
    void claim(connect);
    expect(fake.dials).toHaveLength(2);
  });

  it('discard() closes a dial nobody took, done or under way', () => {
    predial.start();
    fake.dials[0]!.settle();
    predial.discard();
    expect(fake.dials[0]!.socket.destroyed).toBe(true);

    const other = new Predial(ORIGIN);
    other.wrap(fake.connect);
    other.start();
    other.discard();
    expect(fake.dials[1]!.socket.destroyed).toBe(true);
  });

  it('closes a dial nobody took within 30 s', () => {
    jest.useFakeTimers();
    predial.start();
    fake.dials[0]!.settle();
    jest.advanceTimersByTime(29_999);
    expect(fake.dials[0]!.socket.destroyed).toBe(false);
    jest.advanceTimersByTime(1);
    expect(fake.dials[0]!.socket.destroyed).toBe(true);
  });

  it('a start() before the pool gave it its connector does nothing, and does not use up the dial', () => {
    const early = new Predial(ORIGIN);
    early.start();
    early.wrap(fake.connect);
    expect(fake.dials).toHaveLength(0);
    early.start();
    expect(fake.dials).toHaveLength(1);
  });
});
