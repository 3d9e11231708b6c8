// Throughput of the path every reconcile takes through the work queue: add, get, a slot from the
// shared FairLimiter, the (empty) reconcile, release, forget, done. 10 tenants (one queue each)
// share one limiter; 4 workers per queue. The floor is the same loop with the same awaits over
// plain arrays, no queue and no limiter: what the awaits alone cost on this machine.
// Run: npm run bench:workqueue
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FairLimiter } from '../src/queue/fair-limiter.js';
import { WorkQueue } from '../src/queue/work-queue.js';

const KEYS = 200_000;
const TENANTS = 10;
const WORKERS_PER_TENANT = 4;
const LIMIT = 40;
const RUNS = 7;

// The npm script runs plain `node`; turning on --expose-gc here makes the heap figures mean
// "live after collection" rather than "whatever the GC has not got to yet".
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const keys = Array.from({ length: KEYS }, (_, i) => `namespace-${i % 97}/object-${i}`);

// The reconcile under test does nothing, but is a real async call like one would be.
async function noop(_key: string): Promise<void> {}

/** All keys through queues and the limiter; returns keys per second. */
async function throughQueue(limit: number): Promise<number> {
  const limiter = new FairLimiter(limit);
  const queues = Array.from({ length: TENANTS }, () => new WorkQueue());
  let processed = 0;
  const worker = async (queue: WorkQueue, tenant: string, expected: { left: number }): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const release = await limiter.acquire(tenant);
      await noop(key);
      release();
      queue.forget(key);
      queue.done(key);
      processed++;
      if (--expected.left === 0) queue.shutDown();
    }
  };

  const started = performance.now();
  for (let i = 0; i < KEYS; i++) queues[i % TENANTS]!.add(keys[i]!);
  const workers: Promise<void>[] = [];
  queues.forEach((queue, t) => {
    const expected = { left: queue.length };
    for (let w = 0; w < WORKERS_PER_TENANT; w++) workers.push(worker(queue, `tenant-${t}`, expected));
  });
  await Promise.all(workers);
  const seconds = (performance.now() - started) / 1000;

  if (processed !== KEYS || limiter.inFlight !== 0 || queues.some((q) => q.processingCount !== 0)) {
    throw new Error(`bench is wrong: processed ${processed} of ${KEYS}, ${limiter.inFlight} slots still held`);
  }
  return KEYS / seconds;
}

/** The same loop and awaits over plain arrays; returns keys per second. */
async function floor(): Promise<number> {
  const release = (): void => undefined;
  let processed = 0;
  const worker = async (list: string[], cursor: { next: number }): Promise<void> => {
    for (;;) {
      const key = await Promise.resolve(list[cursor.next++]);
      if (key === undefined) return;
      const done = await Promise.resolve(release);
      await noop(key);
      done();
      processed++;
    }
  };

  const started = performance.now();
  const lists = Array.from({ length: TENANTS }, (): string[] => []);
  for (let i = 0; i < KEYS; i++) lists[i % TENANTS]!.push(keys[i]!);
  const workers: Promise<void>[] = [];
  for (const list of lists) {
    const cursor = { next: 0 };
    for (let w = 0; w < WORKERS_PER_TENANT; w++) workers.push(worker(list, cursor));
  }
  await Promise.all(workers);
  const seconds = (performance.now() - started) / 1000;

  if (processed !== KEYS) throw new Error(`bench is wrong: floor processed ${processed} of ${KEYS}`);
  return KEYS / seconds;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};
const rate = (n: number): string => `${Math.round(n).toLocaleString('en-US')} keys/s`.padStart(18);
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

gc();
const heapBefore = process.memoryUsage().heapUsed;

// One unmeasured round of each so that both are measured with optimised code.
await throughQueue(LIMIT);
await floor();

const queueRates: number[] = [];
const contendedRates: number[] = [];
const floorRates: number[] = [];
// Interleaved, so drift in machine load hits all three alike.
for (let run = 0; run < RUNS; run++) {
  queueRates.push(await throughQueue(LIMIT));
  contendedRates.push(await throughQueue(TENANTS));
  floorRates.push(await floor());
}

gc();
const heapAfter = process.memoryUsage().heapUsed;

const q = median(queueRates);
const c = median(contendedRates);
const f = median(floorRates);
console.log(
  `work queue: ${KEYS.toLocaleString('en-US')} keys, ${TENANTS} tenants x ${WORKERS_PER_TENANT} workers, ` +
    `median of ${RUNS} runs (Node ${process.version})`,
);
const row = (label: string, n: number, vsFloor?: number): void =>
  console.log(`${label.padEnd(36)} ${rate(n)}${vsFloor === undefined ? '' : `   ${vsFloor.toFixed(2)} x floor`}`);
row(`queue + FairLimiter(${LIMIT})`, q, q / f);
row(`queue + FairLimiter(${TENANTS}), contended`, c, c / f);
row('floor: arrays, same awaits', f);
console.log(
  `heap used: ${mib(heapBefore)} MiB before, ${mib(heapAfter)} MiB after ` +
    `(${heapAfter >= heapBefore ? '+' : ''}${mib(heapAfter - heapBefore)} MiB)`,
);
