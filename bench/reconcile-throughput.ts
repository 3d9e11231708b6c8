// Reconciles per second of a no-op reconciler through the real Controller path: informer events
// (the store is filled and an 'add' is emitted per object, as a relist does) -> the controller's
// handler -> WorkQueue -> a slot of the shared FairLimiter -> reconcile with its deadline and
// abort signal -> forget/done. 10 controllers (one per "cluster", 4 workers each) share one
// FairLimiter(64), the root module's default. No cluster is needed: the informers are never
// started and their ClusterClient never connects.
// Floor: the same no-op reconcile called by as many workers in a plain loop with the same awaits
// (get, acquire, the reconcile call), over plain arrays: what the awaits alone cost here.
// Run: npm run bench:reconcile-throughput
import { KubeConfig } from '@kubernetes/client-node';
import { Informer } from '../src/cache/informer.js';
import type { InformerEvent, KubeObject } from '../src/cache/types.js';
import { ClusterClient } from '../src/client/cluster-client.js';
import { Controller } from '../src/manager/controller.js';
import { NO_METRICS } from '../src/manager/engine-metrics.js';
import { TimerScheduler } from '../src/manager/scheduler.js';
import { FairLimiter } from '../src/queue/fair-limiter.js';
import type { Reconcile, ReconcileContext, ReconcileRequest } from '../src/reconcile/types.js';
import { gc, int, median, mib, printMachine, report, run } from './support.js';

const KEYS = 200_000;
const CONTROLLERS = 10;
const CONCURRENCY = 4;
const LIMIT = 64;
const RUNS = 7;

/** Counts calls and resolves `done` at the expected count. */
class NoopReconciler implements Reconcile {
  calls = 0;
  expected = 0;
  private finish?: () => void;

  until(expected: number): Promise<void> {
    this.calls = 0;
    this.expected = expected;
    return new Promise((resolve) => (this.finish = resolve));
  }

  reconcile(_request: ReconcileRequest, _ctx: ReconcileContext): void {
    if (++this.calls === this.expected) this.finish?.();
  }
}

// A client that is never used: the informers are not started.
const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: 'none', server: 'https://127.0.0.1:1' }],
  users: [{ name: 'none' }],
  contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
  currentContext: 'none',
});
const client = new ClusterClient({ name: 'unused', kubeConfig });

const objects: KubeObject[][] = Array.from({ length: CONTROLLERS }, (_, c) =>
  Array.from({ length: KEYS / CONTROLLERS }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: `ns-${c}`, name: `pod-${i}`, resourceVersion: '1' },
  })),
);

/** Emits as the watch does (private in Informer: a bench may reach in). */
function emit(informer: Informer, event: InformerEvent): void {
  (informer as unknown as { emit(e: InformerEvent): void }).emit(event);
}

/** The informer never lists here (no server): open its sync latch, as a first list would. */
function markSynced(informer: Informer): void {
  (informer as unknown as { synced: { open(): void } }).synced.open();
}

/** All KEYS through 10 controllers; returns reconciles per second. */
async function throughControllers(): Promise<number> {
  const limiter = new FairLimiter(LIMIT);
  const scheduler = new TimerScheduler();
  const noop = new NoopReconciler();
  const controllers: Controller[] = [];
  const informers: Informer[] = [];
  for (let c = 0; c < CONTROLLERS; c++) {
    const informer = new Informer(client, { apiVersion: 'v1', kind: 'Pod', namespace: `ns-${c}` });
    markSynced(informer);
    informers.push(informer);
    controllers.push(
      new Controller(
        { instance: noop, options: { apiVersion: 'v1', kind: 'Pod', name: 'noop', concurrency: CONCURRENCY } },
        { cluster: `cluster-${c}`, client, informer, secondary: [], limiter, metrics: NO_METRICS, scheduler },
      ),
    );
  }
  for (const controller of controllers) controller.start();
  const finished = noop.until(KEYS);

  const started = performance.now();
  informers.forEach((informer, c) => {
    for (const obj of objects[c]!) {
      informer.store.set(obj);
      emit(informer, { type: 'add', object: obj });
    }
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;

  await Promise.all(controllers.map((c) => c.stop(1_000)));
  if (noop.calls !== KEYS || limiter.inFlight !== 0) {
    throw new Error(`bench is wrong: ${noop.calls} reconciles of ${KEYS}, ${limiter.inFlight} slots held`);
  }
  return KEYS / seconds;
}

/** The same reconcile, workers and awaits over plain arrays; returns calls per second. */
async function floor(): Promise<number> {
  const noop = new NoopReconciler();
  const finished = noop.until(KEYS);
  const ctx = {} as ReconcileContext;
  const release = (): void => undefined;
  const worker = async (list: KubeObject[], cursor: { next: number }): Promise<void> => {
    for (;;) {
      const obj = await Promise.resolve(list[cursor.next++]); // queue.get()
      if (obj === undefined) return;
      const done = await Promise.resolve(release); // limiter.acquire()
      await Promise.resolve().then(() =>
        noop.reconcile({ cluster: 'c', namespace: obj.metadata!.namespace, name: obj.metadata!.name! }, ctx),
      );
      done();
    }
  };
  const started = performance.now();
  const workers: Promise<void>[] = [];
  for (const list of objects) {
    const cursor = { next: 0 };
    for (let w = 0; w < CONCURRENCY; w++) workers.push(worker(list, cursor));
  }
  await Promise.all(workers);
  await finished;
  return KEYS / ((performance.now() - started) / 1000);
}

await run(async () => {
  printMachine('reconcile-throughput: no-op reconciles through the real Controller path');
  console.log(
    `${int(KEYS)} objects over ${CONTROLLERS} controllers x ${CONCURRENCY} workers, FairLimiter(${LIMIT}); ` +
      `median of ${RUNS} runs, interleaved with the floor`,
  );
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  // One unmeasured round of each, so both are measured with optimised code.
  await throughControllers();
  await floor();
  const rates: number[] = [];
  const floors: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    gc();
    rates.push(await throughControllers());
    gc();
    floors.push(await floor());
    console.log(
      `run ${i + 1}: controllers ${int(rates[i]!).padStart(9)} reconciles/s   floor ${int(floors[i]!).padStart(10)} calls/s`,
    );
  }
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const figure = median(rates);
  const f = median(floors);
  report({
    what: `no-op reconciles/s through Controller (informer event -> WorkQueue -> FairLimiter -> reconcile -> done)`,
    figure: `${int(figure)} reconciles/s (min ${int(Math.min(...rates))}, max ${int(Math.max(...rates))})`,
    floor: `${int(f)} calls/s, same reconcile and awaits in a plain loop`,
    ratio: `${(figure / f).toFixed(3)}x floor (${(1e6 / figure - 1e6 / f).toFixed(2)} us of engine per reconcile)`,
    target: '>= 50,000 reconciles/s',
    pass: figure >= 50_000,
  });
  console.log(`heap used: ${mib(heapBefore)} before, ${mib(heapAfter)} after all runs`);
  await client.close();
});
