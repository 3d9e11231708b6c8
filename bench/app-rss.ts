// The ready-made app's process memory before any runtime, as a pod would show it: the image's
// entry point (the bundle, dist/app/main.mjs) as its own process with probes and metrics on, its
// RSS read from /proc once /readyz answers and again after it settles, the median of several
// starts. Floor: a bare `node` process started the same way. The unbundled entry point
// (dist/src/main.js) is measured beside it, for what the bundle saves.
// Run: npm run bench:app-rss [-- --starts N] [--node-args='--flag ...' (V8 flags NODE_OPTIONS refuses)]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { installCrds } from '../src/testing/register.js';
import {
  APP_MAIN,
  APP_MAIN_UNBUNDLED,
  appEnv,
  appReady,
  BOOT_MEMORY_RELEASED,
  measureProcess,
  type ProcessMemory,
} from './app-process.js';
import { median, mib, printMachine, report, summary, withClusters } from './support.js';

const { values } = parseArgs({
  options: { starts: { type: 'string', default: '5' }, main: { type: 'string' }, 'node-args': { type: 'string' } },
});
const STARTS = Number(values.starts);
const SETTLE_MS = 5_000;
const NODE_ARGS = (values['node-args'] ?? '').split(' ').filter(Boolean);

printMachine('bench:app-rss: the ready-made app before any runtime');
await withClusters(1, async (clusters) => {
  const dir = clusters.dir;
  const manage = join(dir, 'manage.kubeconfig');
  writeFileSync(manage, clusters.get('manage').kubeconfig());
  // The app's manage reconcilers watch RemoteClusters: without the CRD it is never ready.
  const kc = new KubeConfig();
  kc.loadFromFile(manage);
  await installCrds(kc);
  const env = appEnv(manage);
  const app: ProcessMemory[] = [];
  const unbundled: ProcessMemory[] = [];
  const bare: ProcessMemory[] = [];
  for (let i = 0; i < STARTS; i++) {
    app.push(
      await measureProcess([...NODE_ARGS, values.main ?? APP_MAIN], env, appReady, SETTLE_MS, BOOT_MEMORY_RELEASED),
    );
    unbundled.push(
      await measureProcess([...NODE_ARGS, APP_MAIN_UNBUNDLED], env, appReady, SETTLE_MS, BOOT_MEMORY_RELEASED),
    );
    bare.push(
      await measureProcess(
        ['-e', 'console.log("up"); setInterval(() => {}, 1000)'],
        env,
        (out) => Promise.resolve(out.includes('up')),
        SETTLE_MS,
      ),
    );
  }
  const m = (xs: number[]): string => `${mib(median(xs))} (min ${mib(Math.min(...xs))}, max ${mib(Math.max(...xs))})`;
  // Where the RSS lives (medians): what a flag, a lazy import or a smaller heap can reach, and
  // what only running less of node's own code can.
  const where = (ms: ProcessMemory[]): string =>
    `node binary's pages ${mib(median(ms.map((x) => x.breakdown.nodeBinary)))}, ` +
    `other files ${mib(median(ms.map((x) => x.breakdown.otherFiles)))}, ` +
    `anonymous ${mib(median(ms.map((x) => x.breakdown.anonymous)))}`;
  console.log(`app RSS by where it lives: ${where(app)}`);
  console.log(`unbundled app RSS by where it lives: ${where(unbundled)}`);
  console.log(`bare node RSS by where it lives: ${where(bare)}`);
  const heaps = app.flatMap((a) => (a.heap ? [a.heap] : []));
  if (heaps.length > 0) {
    console.log(
      `app V8 heap (its /metrics): used ${mib(median(heaps.map((h) => h.used)))}, committed ` +
        `${mib(median(heaps.map((h) => h.committed)))}, of which the young generation ${mib(median(heaps.map((h) => h.newSpace)))}`,
    );
  }
  console.log(
    `unbundled app (dist/src/main.js), settled: ${m(unbundled.map((a) => a.settled))}; at ready ${m(unbundled.map((a) => a.atReady))}`,
  );
  report({
    what: `process RSS of the ready-made app once /readyz answers, then ${SETTLE_MS / 1000} s after it released the boot's memory (median of ${STARTS})`,
    figure: `${m(app.map((a) => a.atReady))}; settled ${m(app.map((a) => a.settled))}`,
    floor: `bare node: ${m(bare.map((b) => b.settled))}`,
    target: '≤ 80 MiB',
    pass: median(app.map((a) => a.settled)) <= 80 * 2 ** 20,
  });
});
summary();
