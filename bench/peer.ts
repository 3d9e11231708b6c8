// clusterregistry next to a Go controller-runtime peer (../shared/peers/go-controller-runtime) on
// the same local apiservers: builds the peer once (when Go is present), creates the load with the
// peer's setup mode, runs every measurement as separate processes with the sides alternating
// (ts, go, ts, go …; N each, medians), and prints one table of our figures, the peer's, each with
// its floor from the same run, and the ratio. The source of the README's comparison table.
// Our side's measurement processes run bundled by esbuild as the image runs the app
// (scripts/bundle-app.mjs, into dist/bench-peer/), unless --unbundled.
// Run: npm run bench:peer [-- --processes 5] [--quick] [--rate 300] [--verbose] [--peer-dir DIR]
//      [--only spawnsync,far,memory,rss,scale,latency] [--unbundled] [--no-app-flags]
import { spawnSync as runSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { APP_V8_FLAGS } from '../src/app/v8-flags.js';
import { buildPeer, findGo, findPeerDir } from './peer/go-peer.js';
import {
  FAR_DELAY_MS,
  latency,
  memory,
  rssBaseline,
  Samples,
  scale,
  setup,
  spawnSync,
  spawnSyncFar,
  type Bench,
} from './peer/measurements.js';
import { prepareManage, withLocalClusters } from './peer/our-clusters.js';
import { printTable } from './peer/table.js';
import { printMachine } from './support.js';

interface Options {
  processes: number;
  quick: boolean;
  rate: number;
  verbose: boolean;
  peerDir?: string;
  /** Steps to run; all when absent. */
  only?: Set<Step>;
  unbundled: boolean;
  /** Our side without the ready-made app's V8 flags (src/app/v8-flags.ts), as a library user's app
   * that does not set them runs. */
  noAppFlags: boolean;
}

const STEPS = ['spawnsync', 'far', 'memory', 'rss', 'scale', 'latency'] as const;
type Step = (typeof STEPS)[number];
const isStep = (s: string): s is Step => (STEPS as readonly string[]).includes(s);

function options(argv: string[]): Options {
  const o: Options = { processes: 5, quick: false, rate: 300, verbose: false, unbundled: false, noAppFlags: false };
  let processes: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') o.quick = true;
    else if (arg === '--verbose') o.verbose = true;
    else if (arg === '--processes') processes = Number(value());
    else if (arg === '--rate') o.rate = Number(value());
    else if (arg === '--peer-dir') o.peerDir = value();
    else if (arg === '--unbundled') o.unbundled = true;
    else if (arg === '--no-app-flags') o.noAppFlags = true;
    else if (arg === '--only') {
      const steps = value().split(',');
      const unknown = steps.filter((s) => !isStep(s));
      if (unknown.length > 0) throw new Error(`--only: unknown step ${unknown.join(', ')} (${STEPS.join(', ')})`);
      o.only = new Set(steps.filter(isStep));
    } else
      throw new Error(
        `unknown argument ${arg} (--processes N, --quick, --rate N, --verbose, --peer-dir DIR, ` +
          `--only ${STEPS.join(',')}, --unbundled, --no-app-flags)`,
      );
  }
  // --quick: one process per side and few rounds, to see the whole pipeline work.
  o.processes = processes ?? (o.quick ? 1 : 5);
  if (!Number.isInteger(o.processes) || o.processes < 1) throw new Error('--processes must be 1 or more');
  if (!Number.isInteger(o.rate) || o.rate < 1) throw new Error('--rate must be a whole number of patches/s');
  return o;
}

/** The package root, found upwards from dist/bench. */
function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    if (dirname(dir) === dir) throw new Error('package.json not found above ' + import.meta.dirname);
    dir = dirname(dir);
  }
  return dir;
}

/** Our side's entry point: peer-side.js as `tsc` left it, or bundled as the image's app is. */
function ourEntry(root: string, unbundled: boolean): string {
  const plain = join(import.meta.dirname, 'peer-side.js');
  if (unbundled) return plain;
  const outdir = join(root, 'dist', 'bench-peer');
  const r = runSync(process.execPath, [join(root, 'scripts', 'bundle-app.mjs'), plain, outdir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bundling ${plain} failed:\n${r.stderr}`);
  return join(outdir, 'main.mjs');
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const began = performance.now();
  const go = findGo();
  if (!go) {
    console.log('go is not on PATH (or $GO): the Go peer comparison is skipped.');
    return;
  }
  const root = repoRoot();
  const peerDir = findPeerDir(root, o.peerDir);
  if (!peerDir) {
    console.log(
      'Go peer sources not found (../shared/peers/go-controller-runtime, $GOCR_PEER_DIR or --peer-dir): ' +
        'the Go peer comparison is skipped.',
    );
    return;
  }
  printMachine('peer: clusterregistry next to a Go controller-runtime peer on the same apiservers');
  console.log(`${go.version}; peer sources ${peerDir}`);
  const gocr = buildPeer(go.go, peerDir, (line) => console.log(line));
  console.log(
    `${o.processes} process(es) per side per measurement, sides alternating${o.quick ? ' (--quick: few rounds)' : ''}`,
  );

  const peerSide = ourEntry(root, o.unbundled);
  console.log(`our side: ${o.unbundled ? 'unbundled' : 'bundled as the image runs the app'} (${peerSide})`);
  console.log(
    `our side's V8 flags: ${o.noAppFlags ? 'none (--no-app-flags)' : `the ready-made app's, ${APP_V8_FLAGS.join(' ')}`}`,
  );
  const tmp = mkdtempSync(join(tmpdir(), 'cr-peer-'));
  try {
    // manage (our root app needs one; the peer does not use it), remote-1, remote-2.
    await withLocalClusters(3, async (kubeconfigs) => {
      const b: Bench = {
        gocr,
        peerSide,
        manage: kubeconfigs.get('manage')!,
        remotes: [kubeconfigs.get('remote-1')!, kubeconfigs.get('remote-2')!],
        processes: o.processes,
        quick: o.quick,
        rate: o.rate,
        verbose: o.verbose,
        appFlags: !o.noAppFlags,
        tmp,
      };
      const samples = new Samples();
      const step = async (name: Step | 'load', title: string, fn: () => Promise<void>): Promise<void> => {
        if (name !== 'load' && o.only && !o.only.has(name)) return;
        const t0 = performance.now();
        console.log(`\n## ${title}`);
        await fn();
        console.log(`  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      };
      await step('load', "load (the peer's setup mode) and the manage cluster's CRD", async () => {
        await Promise.all([setup(b), prepareManage(b.manage)]);
      });
      await step('spawnsync', 'spawnsync: one runtime on 1,000 pods until synced; floor: bare paginated list', () =>
        spawnSync(b, samples),
      );
      await step('far', `spawnsync over a ${2 * FAR_DELAY_MS} ms round trip (a forwarder in front of remote-1)`, () =>
        spawnSyncFar(b, samples),
      );
      await step('memory', 'memory: per idle runtime and per runtime caching 1,000 pods', () => memory(b, samples));
      await step('rss', 'rss-baseline: the ready-made app before any runtime; floor: bare node', () =>
        rssBaseline(b, samples),
      );
      await step('scale', 'scale: 100 runtimes at once until all synced; floor: 100 bare lists at once', () =>
        scale(b, samples),
      );
      await step('latency', "latency: event → reconcile, both sides at once; floor: each side's bare watch", () =>
        latency(b, samples),
      );
      console.log(
        `\n## clusterregistry vs Go controller-runtime peer, medians of ${o.processes} process(es) per side\n`,
      );
      printTable(samples);
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`\nwhole run: ${((performance.now() - began) / 60_000).toFixed(1)} min`);
}

try {
  await main();
} catch (err) {
  console.error('\nbench failed:', err);
  process.exitCode = 1;
}
