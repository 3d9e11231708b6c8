import { jest } from '@jest/globals';
import { DEFAULT_MAX_WATCH_EVENT_BYTES, ResponseTooLargeError } from '../../../src/client/body.js';
import { ClusterClient } from '../../../src/client/cluster-client.js';
import { KindNotServedError, KubeApiError } from '../../../src/client/errors.js';
import type { WatchEvent } from '../../../src/client/watch-decoder.js';
import { advance, useFakeClock } from '../../support/clock.js';
import {
  fakeKubeConfig,
  FakeTransport,
  HANG,
  json,
  settle,
  status,
  until,
  WatchStream,
} from '../../../src/testing/fake-transport.js';

// ClusterClient over the fake transport: what the engine's unit tests rely on about the seam.
describe('ClusterClient on the fake transport', () => {
  let fake: FakeTransport;

  beforeEach(() => {
    useFakeClock();
    fake = new FakeTransport();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('sends JSON with the token and parses the answer', async () => {
    fake.on('POST', '/api/v1/namespaces/ns/configmaps', (req) => json(201, { echo: req.body }));
    const client = fake.client();
    const answer = await client.request('POST', '/api/v1/namespaces/ns/configmaps', {
      body: { data: { a: '1' } },
      query: { dryRun: 'All', fieldManager: undefined },
    });

    expect(answer).toEqual({ echo: { data: { a: '1' } } });
    expect(fake.sent()).toEqual(['POST /api/v1/namespaces/ns/configmaps?dryRun=All']);
    expect(fake.requests[0]!.headers).toMatchObject({
      authorization: 'Bearer fake-token',
      'content-type': 'application/json',
      accept: 'application/json',
    });
  });

  it('turns a Status answer into a KubeApiError with its reason and Retry-After', async () => {
    fake.on('GET', '/api/v1/pods', status(429, 'TooManyRequests', 'slow down', { 'retry-after': '3' }));
    const err = await fake
      .client()
      .request('GET', '/api/v1/pods')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({
      status: 429,
      statusReason: 'TooManyRequests',
      retryAfterSeconds: 3,
      message: 'GET /api/v1/pods: 429 slow down',
    });
  });

  it('answers an unrouted request with 404', async () => {
    await expect(fake.client().request('GET', '/nowhere')).rejects.toMatchObject({ status: 404 });
  });

  it('reads at most maxBytes for a request that asks for less, never more than maxResponseBytes', async () => {
    const items = Array.from({ length: 100 }, (_, i) => ({
      metadata: { name: `cm-${i}` },
      data: { v: 'x'.repeat(100) },
    }));
    fake.on('GET', '/api/v1/configmaps', json(200, { kind: 'ConfigMapList', items }));
    const client = (maxResponseBytes: number): ClusterClient =>
      new ClusterClient({ name: 'test', kubeConfig: fakeKubeConfig(), dispatcher: fake.dispatcher, maxResponseBytes });
    const size = Buffer.byteLength(JSON.stringify({ kind: 'ConfigMapList', items }));

    await expect(client(size).request('GET', '/api/v1/configmaps')).resolves.toMatchObject({ items });
    await expect(client(size).request('GET', '/api/v1/configmaps', { maxBytes: size - 1 })).rejects.toThrow(
      `GET /api/v1/configmaps: response body larger than ${size - 1} bytes`,
    );
    await expect(client(size - 1).request('GET', '/api/v1/configmaps', { maxBytes: size })).rejects.toBeInstanceOf(
      ResponseTooLargeError,
    );
    expect(client(size).maxObjectBytes).toBe(DEFAULT_MAX_WATCH_EVENT_BYTES);
  });

  it('ends a request that gets no answer at its deadline, saying what timed out', async () => {
    fake.on('GET', '/version', HANG);
    const pending = fake
      .client('test', 5_000)
      .request('GET', '/version')
      .catch((e: unknown) => e);
    await settle();
    await advance(4_999);
    expect(fake.requests[0]!.signal!.aborted).toBe(false);
    await advance(1);
    const err = (await pending) as Error;
    expect(err.name).toBe('TimeoutError');
    expect(err.message).toBe('GET /version: no answer within 5000 ms');
  });

  it('streams watch events as they are pushed, and reads the Status of a refused watch', async () => {
    const stream = new WatchStream();
    fake.onWatch('/api/v1/pods', stream, status(403, 'Forbidden', 'pods is forbidden'));
    const client = fake.client();
    const events: WatchEvent[] = [];
    const reading = (async () => {
      for await (const e of await client.watch('/api/v1/pods', { watch: 1 }, new AbortController().signal, 1000))
        events.push(e);
    })();
    await until(() => stream.open && !!stream.request);
    stream
      .push('ADDED', { metadata: { name: 'a' } })
      .raw('{"type":"BOOKMARK",')
      .raw('"object":{}}\n');
    stream.end();
    await reading;
    expect(events).toEqual([
      { type: 'ADDED', object: { metadata: { name: 'a' } } },
      { type: 'BOOKMARK', object: {} },
    ]);

    await expect(client.watch('/api/v1/pods', { watch: 1 }, new AbortController().signal, 1000)).rejects.toMatchObject({
      status: 403,
      message: 'watch /api/v1/pods: 403 pods is forbidden',
    });
  });

  it('discovers kinds through the client itself, not through the view that asked first', async () => {
    fake.on('GET', '/apis/example.com/v1', () =>
      json(200, { resources: [{ name: 'widgets', kind: 'Widget', namespaced: true, verbs: ['get'] }] }),
    );
    fake.on('GET', '/api/v1', () =>
      json(200, { resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: ['get'] }] }),
    );
    const client = fake.client();
    const reconcile = new AbortController();
    await client.withSignal(reconcile.signal).resources.resolve('v1', 'ConfigMap');
    // That reconcile ended at its deadline: lookups of other kinds, by anyone, still work.
    reconcile.abort(new Error('reconcile timed out'));
    await expect(client.resources.resolve('example.com/v1', 'Widget')).resolves.toMatchObject({ namespaced: true });
    expect(fake.sent()).toEqual(['GET /api/v1', 'GET /apis/example.com/v1']);
  });

  it('finds a kind in another version of its group when the one asked for is not served', async () => {
    const widgets = json(200, { resources: [{ name: 'widgets', kind: 'Widget', namespaced: true }] });
    fake.on('GET', '/apis/example.com/v1alpha1', status(404, 'NotFound'));
    fake.on('GET', '/apis/example.com/v1', widgets);
    // What a hostile server might add is not asked about: only this group's well-formed versions.
    fake.on(
      'GET',
      '/apis/example.com',
      json(200, {
        preferredVersion: { groupVersion: 'example.com/v1' },
        versions: [
          { groupVersion: 'other.io/v1' },
          { groupVersion: 'example.com/../../api/v1' },
          { groupVersion: 7 },
          { groupVersion: 'example.com/v1alpha1' },
        ],
      }),
    );
    const client = fake.client();
    await expect(client.resources.resolveInGroup('example.com/v1alpha1', 'Widget')).resolves.toEqual({
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      plural: 'widgets',
      namespaced: true,
    });
    expect(fake.sent()).toEqual([
      'GET /apis/example.com/v1alpha1',
      'GET /apis/example.com',
      'GET /apis/example.com/v1',
    ]);
    // Served as asked: no group lookup. No version of the group serves it: KindNotServed.
    await expect(client.resources.resolveInGroup('example.com/v1', 'Widget')).resolves.toMatchObject({
      apiVersion: 'example.com/v1',
    });
    await expect(client.resources.resolveInGroup('example.com/v1alpha1', 'Gadget')).rejects.toThrow(KindNotServedError);
    // An apiVersion that is none (a manifest's own text) never becomes a request path.
    const sentBefore = fake.sent().length;
    for (const bad of ['../../api/v1/namespaces/kube-system/secrets/x', 'example.com/v1/..', 'Example.com/v1', '']) {
      await expect(client.resources.resolveInGroup(bad, 'Widget')).rejects.toThrow(KindNotServedError);
    }
    expect(fake.sent().length).toBe(sentBefore);
    fake.on('GET', '/apis/gone.io/v1', status(404, 'NotFound'));
    fake.on('GET', '/apis/gone.io', status(404, 'NotFound'));
    await expect(client.resources.resolveInGroup('gone.io/v1', 'Widget')).rejects.toThrow(KindNotServedError);
  });

  it('close() aborts what is in flight and ends open watches', async () => {
    const stream = new WatchStream();
    fake.onWatch('/api/v1/pods', stream);
    fake.on('GET', '/version', HANG);
    const client = fake.client();
    const watch = await client.watch('/api/v1/pods', { watch: 1 }, new AbortController().signal, 1000);
    const pending = client.request('GET', '/version').catch((e: unknown) => e);
    await settle();

    await client.close();
    expect(stream.open).toBe(false);
    expect(((await pending) as Error).message).toBe('cluster test: client closed');
    const rest: WatchEvent[] = [];
    await expect(
      (async () => {
        for await (const e of watch) rest.push(e);
      })(),
    ).rejects.toThrow('cluster test: client closed');
    expect(fake.requests.every((r) => r.signal!.aborted)).toBe(true);
  });
});
