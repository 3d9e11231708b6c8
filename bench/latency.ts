// Event-to-reconcile latency under load: 500 pod changes/s spread over 10 cluster runtimes. On 2
// cores, 10 apiservers would measure CPU contention between them, so the 10 runtimes run against
// 2 remote apiservers (5 each), each runtime watching its own namespace (reconcilerOptions).
// A change is a merge-patch of the label seq=<n> on one pod; t0 is taken just before the patch is
// sent; the reconciler reads the pod from ctx.cache and records when it first sees that seq.
// Floor: a bare watch (ClusterClient.stream(), one per namespace, JSON lines parsed by hand) in
// the same process at the same time, recording when it first sees each seq.
// Run: npm run bench:latency
import type { ClusterClient } from '../src/client/cluster-client.js';
import {
  clientOf,
  createNamespace,
  createPods,
  int,
  kubeConfigOf,
  ms,
  percentile,
  printMachine,
  report,
  run,
  sleep,
  startRoot,
  withClusters,
} from './support.js';

const RUNTIMES = 10;
const APISERVERS = 2;
const PODS_PER_NAMESPACE = 50;
const RATE = 500; // changes per second, all runtimes together
const WARMUP_S = 5;
const MEASURE_S = 20;
const MAX_IN_FLIGHT = 256;

const TOTAL = RATE * (WARMUP_S + MEASURE_S);
const FIRST_MEASURED = RATE * WARMUP_S;
const namespaceOf = (runtime: number): string => `bench-lat-${runtime}`;
const runtimeName = (runtime: number): string => `rt-${runtime}`;
const remoteOf = (runtime: number): string => `remote-${(runtime % APISERVERS) + 1}`;

// Indexed by seq; 0 = not (yet) seen.
const sentAt = new Float64Array(TOTAL);
const watchSaw = new Float64Array(TOTAL);
const reconcileSaw = new Float64Array(TOTAL);
const answeredAt = new Float64Array(TOTAL);

function seqOf(obj: unknown): number | undefined {
  const value = (obj as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata?.labels?.seq;
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n < TOTAL ? n : undefined;
}

/** The floor: a raw watch of one namespace; lines split and parsed here, nothing else. */
async function bareWatch(client: ClusterClient, namespace: string, signal: AbortSignal): Promise<void> {
  const path = `/api/v1/namespaces/${namespace}/pods`;
  const list = await client.request<{ metadata: { resourceVersion: string } }>('GET', path, { query: { limit: 1 } });
  const { body } = await client.stream(
    path,
    { watch: 1, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 600 },
    signal,
    120_000,
  );
  body.setEncoding('utf8');
  let buffered = '';
  try {
    for await (const chunk of body as AsyncIterable<string>) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const event = JSON.parse(line) as { object?: unknown };
        const seq = seqOf(event.object);
        if (seq !== undefined && watchSaw[seq] === 0) watchSaw[seq] = performance.now();
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

/** Sends TOTAL patches at RATE per second; seq n goes to runtime n % 10, pod (n / 10) % 50. */
async function load(clients: Map<string, ClusterClient>): Promise<{ errors: number; seconds: number }> {
  let inFlight = 0;
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  while (sent < TOTAL) {
    const due = Math.min(TOTAL, Math.floor(((performance.now() - started) / 1000) * RATE));
    while (sent < due && inFlight < MAX_IN_FLIGHT) {
      const seq = sent++;
      const runtime = seq % RUNTIMES;
      const pod = `pod-${Math.floor(seq / RUNTIMES) % PODS_PER_NAMESPACE}`;
      const client = clients.get(remoteOf(runtime))!;
      inFlight++;
      sentAt[seq] = performance.now();
      client
        .request('PATCH', `/api/v1/namespaces/${namespaceOf(runtime)}/pods/${pod}`, {
          body: { metadata: { labels: { seq: String(seq) } } },
          contentType: 'application/merge-patch+json',
        })
        .then(
          () => (answeredAt[seq] = performance.now()),
          () => errors++,
        )
        .finally(() => inFlight--);
    }
    await sleep(1);
  }
  const seconds = (performance.now() - started) / 1000;
  while (inFlight > 0) await sleep(5);
  return { errors, seconds };
}

await run(async () => {
  printMachine('latency: event-to-reconcile latency under 500 pod changes/s');
  console.log(
    `${RUNTIMES} cluster runtimes against ${APISERVERS} remote apiservers (${RUNTIMES / APISERVERS} runtimes each, ` +
      `each watching its own namespace of ${PODS_PER_NAMESPACE} pods): on 2 cores, 10 apiservers would measure ` +
      `CPU contention between apiservers, not the runtime`,
  );
  await withClusters(1 + APISERVERS, async (clusters) => {
    const admins = new Map<string, ClusterClient>();
    for (let r = 1; r <= APISERVERS; r++) admins.set(`remote-${r}`, clientOf(clusters.get(`remote-${r}`)));
    for (let i = 0; i < RUNTIMES; i++) {
      const admin = admins.get(remoteOf(i))!;
      await createNamespace(admin, namespaceOf(i));
    }
    await Promise.all(
      Array.from({ length: RUNTIMES }, (_, i) =>
        createPods(admins.get(remoteOf(i))!, namespaceOf(i), PODS_PER_NAMESPACE, { parallel: 8 }),
      ),
    );

    const names = new Map(Array.from({ length: RUNTIMES }, (_, i) => [runtimeName(i), namespaceOf(i)]));
    const root = await startRoot({
      manage: kubeConfigOf(clusters.get('manage')),
      hooks: {
        namespaceOf: (cluster) => names.get(cluster)!,
        onReconcile: (_cluster, request, ctx) => {
          const seq = seqOf(ctx.cache.get(request.namespace, request.name));
          if (seq !== undefined && reconcileSaw[seq] === 0) reconcileSaw[seq] = performance.now();
        },
      },
    });
    const watching = new AbortController();
    const watchClients = new Map<string, ClusterClient>();
    const watches: Promise<void>[] = [];
    try {
      await Promise.all(
        Array.from({ length: RUNTIMES }, (_, i) =>
          root.registry.spawn(runtimeName(i), kubeConfigOf(clusters.get(remoteOf(i)))),
        ),
      );
      await Promise.all(
        Array.from({ length: RUNTIMES }, (_, i) => root.registry.waitForSync(runtimeName(i), { timeoutMs: 60_000 })),
      );
      for (let r = 1; r <= APISERVERS; r++)
        watchClients.set(`remote-${r}`, clientOf(clusters.get(`remote-${r}`), `bare-watch-${r}`));
      for (let i = 0; i < RUNTIMES; i++)
        watches.push(bareWatch(watchClients.get(remoteOf(i))!, namespaceOf(i), watching.signal));
      await sleep(1_000); // every watch open

      console.log(`load: ${WARMUP_S} s warm-up, then ${MEASURE_S} s measured, ${RATE} patches/s`);
      const { errors, seconds } = await load(admins);
      await sleep(2_000); // stragglers
      console.log(
        `sent ${int(TOTAL)} patches in ${seconds.toFixed(1)} s (${int(TOTAL / seconds)}/s), ${errors} failed`,
      );

      const watchLat: number[] = [];
      const recLat: number[] = [];
      const diff: number[] = [];
      const answer: number[] = [];
      let missedWatch = 0;
      let missedReconcile = 0;
      for (let seq = FIRST_MEASURED; seq < TOTAL; seq++) {
        if (answeredAt[seq]) answer.push(answeredAt[seq]! - sentAt[seq]!);
        const w = watchSaw[seq]!;
        const r = reconcileSaw[seq]!;
        if (!w) missedWatch++;
        if (!r) missedReconcile++;
        if (w) watchLat.push(w - sentAt[seq]!);
        if (r) recLat.push(r - sentAt[seq]!);
        if (w && r) diff.push(r - w);
      }
      const measured = TOTAL - FIRST_MEASURED;
      console.log(
        `measured ${int(measured)} changes: bare watch saw ${int(measured - missedWatch)}, reconciler saw ` +
          `${int(measured - missedReconcile)} (a change the queue folded into a later one of the same pod is not seen)`,
      );
      console.log(
        `patch round trip (t0 to response): p50 ${ms(percentile(answer, 50))}, p99 ${ms(percentile(answer, 99))}`,
      );
      const line = (label: string, xs: number[]): void =>
        console.log(
          `${label.padEnd(34)} p50 ${ms(percentile(xs, 50)).padStart(9)}   p99 ${ms(percentile(xs, 99)).padStart(9)}   ` +
            `max ${ms(Math.max(...xs)).padStart(9)}`,
        );
      line('bare watch (t0 to event)', watchLat);
      line('reconcile (t0 to reconciler sees)', recLat);
      line('per change: reconcile - watch', diff);

      const p50w = percentile(watchLat, 50);
      const p50r = percentile(recLat, 50);
      const p99w = percentile(watchLat, 99);
      const p99r = percentile(recLat, 99);
      report({
        what: 'event-to-reconcile latency p50 vs bare watch',
        figure: `p50 ${ms(p50r)}`,
        floor: `p50 ${ms(p50w)} (bare watch)`,
        ratio: `${p50r - p50w >= 0 ? '+' : ''}${ms(p50r - p50w)} (${(p50r / p50w).toFixed(2)}x)`,
        target: 'p50 within +5 ms of the bare watch',
        pass: p50r - p50w <= 5,
      });
      report({
        what: 'event-to-reconcile latency p99 vs bare watch',
        figure: `p99 ${ms(p99r)}`,
        floor: `p99 ${ms(p99w)} (bare watch)`,
        ratio: `${p99r - p99w >= 0 ? '+' : ''}${ms(p99r - p99w)} (${(p99r / p99w).toFixed(2)}x)`,
        target: 'p99 within +25 ms of the bare watch',
        pass: p99r - p99w <= 25,
      });
    } finally {
      watching.abort();
      await Promise.allSettled(watches);
      await root.close();
      for (const c of [...admins.values(), ...watchClients.values()]) await c.close();
    }
  });
});
