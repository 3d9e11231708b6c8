import { Agent, request, type Dispatcher } from 'undici';
import { DEFAULT_MAX_RESPONSE_BYTES, readBounded, ResponseTooLargeError } from '../../../src/client/body.js';
import { parseKubeconfig } from '../../../src/client/kubeconfig.js';
import { describeFailure, failureReason, KubeApiError } from '../../../src/client/errors.js';
import {
  decodeWatchEvents,
  MalformedWatchEventError,
  WatchEventTooLargeError,
  type WatchEvent,
} from '../../../src/client/watch-decoder.js';
import { HostileServer, SECRET_MARKER, STATUS_500_MESSAGE } from '../../support/hostile-server.js';
import { eventually } from '../../support/poll.js';

const MiB = 1024 * 1024;
// Streaming tests fail in seconds, not at the suite's 2-minute timeout.
const STREAM_TIMEOUT_MS = 30_000;

let server: HostileServer;
let h2: Agent;
let h1: Agent;
let auth: Record<string, string>;

/** Agents built from the server's kubeconfig, as the cluster client builds its own. */
function agentsFor(kubeconfig: string): { h2: Agent; h1: Agent; auth: Record<string, string> } {
  const { tls, auth } = parseKubeconfig(kubeconfig);
  if (auth.type !== 'token') throw new Error('the hostile server uses a token');
  return {
    h2: new Agent({ connect: tls }),
    h1: new Agent({ connect: tls, allowH2: false }),
    auth: { authorization: `Bearer ${auth.token}` },
  };
}

function get(path: string, options: { agent?: Agent; signal?: AbortSignal } = {}): Promise<Dispatcher.ResponseData> {
  return request(server.url + path, {
    dispatcher: options.agent ?? h2,
    headers: { ...auth, accept: 'application/json' },
    signal: options.signal,
  });
}

async function getJson<T>(path: string, agent?: Agent): Promise<T> {
  const res = await get(path, { agent });
  expect(res.statusCode).toBe(200);
  const body = await readBounded(res.body, DEFAULT_MAX_RESPONSE_BYTES, `GET ${path}`, res.headers['content-length']);
  return JSON.parse(body.toString('utf8')) as T;
}

/** The error a request ends with, after the body was read (bounded) as the client will. */
async function apiError(path: string, what: string): Promise<KubeApiError> {
  const res = await get(path);
  expect(res.statusCode).toBeGreaterThanOrEqual(400);
  const body = await readBounded(res.body, DEFAULT_MAX_RESPONSE_BYTES, what, res.headers['content-length']);
  return KubeApiError.fromResponse(res.statusCode, res.headers, body, what);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

/** Reads a watch until it fails; returns the events before and the failure. */
async function watchUntilFailure(
  path: string,
  maxEventBytes?: number,
  signal?: AbortSignal,
): Promise<{ events: WatchEvent[]; error: unknown }> {
  const res = await get(`${path}?watch=1`, { signal });
  expect(res.statusCode).toBe(200);
  const events: WatchEvent[] = [];
  const error = await rejection(
    (async () => {
      for await (const event of decodeWatchEvents(res.body, { maxEventBytes, what: `watch ${path}` })) {
        events.push(event);
      }
    })(),
  );
  return { events, error };
}

beforeAll(async () => {
  server = await HostileServer.start();
  ({ h2, h1, auth } = agentsFor(server.kubeconfig()));
});

afterEach(async () => {
  server.reset();
  // Whatever a test streamed is over before the next one starts.
  await eventually('no response left open', () => (server.openResponses === 0 ? true : undefined), 10_000);
});

afterAll(async () => {
  await Promise.all([h2.destroy(), h1.destroy()]);
  await server.close();
});

describe('hostile server, behaving normally', () => {
  it('serves version, discovery, list and watch over HTTP/2 and HTTP/1.1', async () => {
    for (const agent of [h2, h1]) {
      const version = await getJson<{ gitVersion: string }>('/version', agent);
      expect(version.gitVersion).toMatch(/^v1\./);
      const core = await getJson<{ resources: { name: string; kind: string; namespaced: boolean }[] }>(
        '/api/v1',
        agent,
      );
      expect(core.resources).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'pods', kind: 'Pod', namespaced: true }),
          expect.objectContaining({ name: 'configmaps', kind: 'ConfigMap', namespaced: true }),
        ]),
      );
      expect(await getJson<{ groups: unknown[] }>('/apis', agent)).toMatchObject({ kind: 'APIGroupList', groups: [] });
      const list = await getJson<{ kind: string; items: unknown[] }>('/api/v1/configmaps?limit=500', agent);
      expect(list.kind).toBe('ConfigMapList');
      expect(list.items).toHaveLength(2);

      const res = await get('/api/v1/namespaces/default/pods?watch=1', { agent });
      for await (const event of decodeWatchEvents(res.body, { what: 'watch pods' })) {
        expect(event.type).toBe('ADDED');
        expect(event.object).toMatchObject({ metadata: { name: 'pod-3' } });
        break; // The watch stays open: stopping destroys the body.
      }
    }
    expect([...server.httpVersions].sort()).toEqual(['1.1', '2.0']);
    expect(server.requests('GET /version')).toBe(2);
    expect(server.requests('GET /api/v1/configmaps')).toBe(2);
    expect(server.requests('WATCH /api/v1/namespaces/default/pods')).toBe(2);
  });

  it('serves WatchList as an apiserver does, or refuses it with 422 when told to', async () => {
    const res = await get('/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan');
    const seen: string[] = [];
    for await (const event of decodeWatchEvents(res.body, { what: 'watch pods' })) {
      const meta = (event.object as { metadata: { name?: string; annotations?: Record<string, string> } }).metadata;
      seen.push(`${event.type} ${meta.name ?? meta.annotations?.['k8s.io/initial-events-end']}`);
      if (event.type === 'BOOKMARK') break;
    }
    expect(seen).toEqual(['ADDED pod-1', 'ADDED pod-2', 'BOOKMARK true']);

    server.behave({ watchList: false });
    const refused = await apiError('/api/v1/pods?watch=1&sendInitialEvents=true', 'watch pods');
    expect([refused.status, refused.statusReason]).toEqual([422, 'Invalid']);
  });

  it('refuses a request without the token', async () => {
    const res = await request(server.url + '/version', { dispatcher: h2 });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
  });
});

describe('hostile server, streaming without end', () => {
  it(
    'readBounded stops an endless list at its limit, and the stream is closed',
    async () => {
      server.behave({ list: 'endless' });
      const before = server.bytesSent;
      const res = await get('/api/v1/pods?limit=500');
      const err = await rejection(readBounded(res.body, 8 * MiB, 'GET /api/v1/pods', res.headers['content-length']));
      expect(err).toBeInstanceOf(ResponseTooLargeError);
      expect(failureReason(err)).toBe('ResponseTooLarge');
      // The limit stopped it, not the server.
      expect(server.bytesSent - before).toBeGreaterThan(8 * MiB);
      await eventually('the server sees the stream closed', () => (server.openResponses === 0 ? true : undefined));
    },
    STREAM_TIMEOUT_MS,
  );

  it(
    'decodeWatchEvents stops an endless line at its limit, and the stream is closed',
    async () => {
      server.behave({ watch: 'endless-line' });
      const before = server.bytesSent;
      const { events, error } = await watchUntilFailure('/api/v1/pods', 4 * MiB);
      expect(events).toEqual([]);
      expect(error).toBeInstanceOf(WatchEventTooLargeError);
      expect(server.bytesSent - before).toBeGreaterThan(4 * MiB);
      await eventually('the server sees the stream closed', () => (server.openResponses === 0 ? true : undefined));
    },
    STREAM_TIMEOUT_MS,
  );

  it(
    'keeps memory bounded while endless lists and watch lines stream',
    async () => {
      // Rounds of endless bodies, each stopped by its limit, until this much went through. Read
      // without bounds, one round would grow the process past the bound; a leak of what each round
      // read (6 MiB) would too. The bound is generous: every byte streamed is garbage once its round
      // ends, three times over (server TLS output, client TLS input, plaintext chunks), and V8
      // collects external buffers only once some 64 MiB of them piled up. Measured: 30-100 MiB.
      const streamBytes = 256 * MiB;
      const boundBytes = 150 * MiB;
      server.behave({ list: 'endless', watch: 'endless-line' });
      const baseline = process.memoryUsage.rss();
      let peak = baseline;
      // A watchdog: past the bound, the round in flight is aborted so the test fails now.
      const overrun = new AbortController();
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
        if (peak - baseline > boundBytes) overrun.abort(new Error('RSS bound exceeded'));
      }, 10);
      const start = server.bytesSent;
      const round = async (): Promise<void> => {
        const res = await get('/api/v1/pods', { signal: overrun.signal });
        const listError = await rejection(readBounded(res.body, 4 * MiB, 'GET /api/v1/pods'));
        expect(listError).toBeInstanceOf(ResponseTooLargeError);
        const watch = await watchUntilFailure('/api/v1/pods', 2 * MiB, overrun.signal);
        expect(watch.error).toBeInstanceOf(WatchEventTooLargeError);
      };
      let rounds = 0;
      try {
        while (server.bytesSent - start < streamBytes && !overrun.signal.aborted) {
          rounds++;
          // Once the watchdog fired, the RSS check below says why.
          await round().catch((err: unknown) => {
            if (!overrun.signal.aborted) throw err;
          });
        }
      } finally {
        clearInterval(sampler);
      }
      const grownMiB = (peak - baseline) / MiB;
      const streamedMiB = (server.bytesSent - start) / MiB;
      // SHOW_RSS=1 prints the figures (for the README and for tuning the bound).
      if (process.env.SHOW_RSS) console.log({ grownMiB, streamedMiB, rounds, baselineMiB: baseline / MiB });
      expect(grownMiB).toBeLessThan(boundBytes / MiB);
      expect(streamedMiB).toBeGreaterThanOrEqual(streamBytes / MiB);
    },
    2 * 60_000,
  );
});

describe('hostile server, finite but too large', () => {
  it('huge-page: refused under its size, read whole above it', async () => {
    server.behave({ list: 'huge-page', sizeBytes: 2 * MiB });
    let res = await get('/api/v1/pods');
    expect(await rejection(readBounded(res.body, 1 * MiB, 'GET /api/v1/pods'))).toBeInstanceOf(ResponseTooLargeError);
    res = await get('/api/v1/pods');
    const body = await readBounded(res.body, 4 * MiB, 'GET /api/v1/pods');
    expect(body.byteLength).toBeGreaterThan(2 * MiB);
    const list = JSON.parse(body.toString('utf8')) as { kind: string; items: unknown[] };
    expect(list.kind).toBe('PodList');
    expect(list.items.length).toBeGreaterThan(1000);
  });

  it('a content-length over the limit fails before reading, and releases the stream', async () => {
    for (const agent of [h2, h1]) {
      const res = await get('/api/v1/pods', { agent });
      const err = await rejection(readBounded(res.body, 10, 'GET /api/v1/pods', res.headers['content-length']));
      expect(err).toBeInstanceOf(ResponseTooLargeError);
      expect((err as Error).message).toMatch(
        /^GET \/api\/v1\/pods: response body larger than 10 bytes \(content-length \d+\)$/,
      );
    }
    // The agents still work after the streams were destroyed.
    expect(await getJson<{ kind: string }>('/api/v1/pods', h2)).toMatchObject({ kind: 'PodList' });
    expect(await getJson<{ kind: string }>('/api/v1/pods', h1)).toMatchObject({ kind: 'PodList' });
  });

  it('huge-event: refused under its size, decoded above it', async () => {
    server.behave({ watch: 'huge-event', sizeBytes: 2 * MiB });
    const { error } = await watchUntilFailure('/api/v1/pods', 1 * MiB);
    expect(error).toBeInstanceOf(WatchEventTooLargeError);

    const res = await get('/api/v1/pods?watch=1');
    for await (const event of decodeWatchEvents(res.body, { maxEventBytes: 4 * MiB, what: 'watch pods' })) {
      const filler = (event.object.metadata as { annotations: { filler: string } }).annotations.filler;
      expect(filler.length).toBeGreaterThan(2 * MiB);
      break;
    }
  });
});

describe('hostile server, errors', () => {
  it('error-500-body: the secret in the body never reaches the error', async () => {
    server.behave({ version: 'error-500-body', list: 'error-500-body', watch: 'error-500-body' });
    for (const [path, what] of [
      ['/version', 'GET /version'],
      ['/api/v1/pods', 'GET /api/v1/pods'],
      ['/api/v1/pods?watch=1', 'watch /api/v1/pods'],
    ] as const) {
      const err = await apiError(path, what);
      expect(err.message).toMatch(new RegExp(`^${what}: HTTP 500 \\(text/html, \\d+ bytes\\)$`));
      for (const text of [err.message, describeFailure(err), err.statusReason, String(err.stack)]) {
        expect(text).not.toContain('hunter2');
        expect(text).not.toContain(SECRET_MARKER);
      }
      expect(failureReason(err)).toBe('ServerError');
    }
  });

  it('status-500 and forbidden: the Status message and reason', async () => {
    server.behave({ version: 'status-500', list: 'forbidden', watch: 'forbidden' });
    const internal = await apiError('/version', 'GET /version');
    expect(internal.message).toBe(`GET /version: 500 ${STATUS_500_MESSAGE}`);
    expect(internal.statusReason).toBe('InternalError');
    for (const [path, what] of [
      ['/api/v1/pods', 'GET /api/v1/pods'],
      ['/api/v1/pods?watch=1', 'watch /api/v1/pods'],
    ] as const) {
      const forbidden = await apiError(path, what);
      expect(forbidden.statusReason).toBe('Forbidden');
      expect(forbidden.message).toMatch(/^.*: 403 \/api\/v1\/pods is forbidden/);
      expect(failureReason(forbidden)).toBe('Forbidden');
    }
  });

  it('garbage: a watch line that is not JSON fails without quoting it', async () => {
    server.behave({ watch: 'garbage' });
    const { events, error } = await watchUntilFailure('/api/v1/pods');
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(MalformedWatchEventError);
    expect((error as Error).message).toContain('not valid JSON');
    expect((error as Error).message).not.toContain('hunter2');
  });
});

describe('hostile server, close()', () => {
  it(
    'ends requests it never answered and streams still open',
    async () => {
      const other = await HostileServer.start();
      const agents = agentsFor(other.kubeconfig());
      try {
        other.behave({ list: 'hang', watch: 'endless-line' });
        const headers = { ...agents.auth };
        let settled = false;
        const hanging = request(other.url + '/api/v1/pods', { dispatcher: agents.h2, headers }).finally(
          () => (settled = true),
        );
        const streaming = await request(other.url + '/api/v1/pods?watch=1', { dispatcher: agents.h1, headers });
        const reading = rejection(readBounded(streaming.body, 1024 * MiB, 'watch /api/v1/pods'));
        await eventually('both requests arrive', () =>
          other.requests('GET /api/v1/pods') === 1 && other.bytesSent > MiB ? true : undefined,
        );
        expect(settled).toBe(false);
        await other.close();
        expect(await rejection(hanging)).toBeInstanceOf(Error);
        expect(await reading).not.toBeInstanceOf(ResponseTooLargeError);
        await eventually('every response closed', () => (other.openResponses === 0 ? true : undefined));
      } finally {
        await Promise.all([agents.h2.destroy(), agents.h1.destroy()]);
        await other.close();
      }
    },
    STREAM_TIMEOUT_MS,
  );
});
