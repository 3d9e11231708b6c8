// The comparison table, in Markdown so the README can take it as is: each row our figure and the
// peer's, each beside its floor from the same run, and the ratio TS/Go. Medians over processes.
import { ms } from '../support.js';
import { CACHING, FAR_DELAY_MS, IDLE, PODS, SCALE_RUNTIMES, type Samples } from './measurements.js';
import type { Side } from './protocol.js';

interface Row {
  what: string;
  ts: string;
  tsFloor: string;
  go: string;
  goFloor: string;
  ratio: string;
}

const MiB = 2 ** 20;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 2 : 1)} MiB`;
const pair = (a: number, b: number, unit: string, digits = 2): string =>
  `${(a / (unit === 'MiB' ? MiB : 1)).toFixed(digits)} / ${(b / (unit === 'MiB' ? MiB : 1)).toFixed(digits)} ${unit}`;
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '–');
const times = (figure: number, floor: number): string => `${(figure / floor).toFixed(2)}×`;

export function rows(s: Samples): Row[] {
  const m = (side: Side, name: string): number => s.median(side, name);
  const both = <T>(fn: (side: Side) => T): { ts: T; go: T } => ({ ts: fn('ts'), go: fn('go') });
  const out: Row[] = [];

  const spawn = both((side) => ({
    synced: m(side, 'synced'),
    list: m(side, 'listFloor'),
    first: m(side, 'firstReconcile'),
  }));
  out.push({
    what: `spawn → synced, ${PODS.toLocaleString('en-US')} pods (first reconcile in brackets)`,
    ts: `${ms(spawn.ts.synced)} (${ms(spawn.ts.first)})`,
    tsFloor: `${ms(spawn.ts.list)} bare list: ${times(spawn.ts.synced, spawn.ts.list)}`,
    go: `${ms(spawn.go.synced)} (${ms(spawn.go.first)})`,
    goFloor: `${ms(spawn.go.list)} bare list: ${times(spawn.go.synced, spawn.go.list)}`,
    ratio: ratio(spawn.ts.synced, spawn.go.synced),
  });
  const far = both((side) => ({ synced: m(side, 'farSynced'), list: m(side, 'farListFloor') }));
  out.push({
    what: `spawn → synced, ${PODS.toLocaleString('en-US')} pods, over a ${2 * FAR_DELAY_MS} ms round trip (another region)`,
    ts: ms(far.ts.synced),
    tsFloor: `${ms(far.ts.list)} bare list: ${times(far.ts.synced, far.ts.list)}`,
    go: ms(far.go.synced),
    goFloor: `${ms(far.go.list)} bare list: ${times(far.go.synced, far.go.list)}`,
    ratio: ratio(far.ts.synced, far.go.synced),
  });
  out.push({
    what: `bare list of the same ${PODS.toLocaleString('en-US')} pods, each side's own client, limit 500 (the floor)`,
    ts: ms(spawn.ts.list),
    tsFloor: '–',
    go: ms(spawn.go.list),
    goFloor: '–',
    ratio: ratio(spawn.ts.list, spawn.go.list),
  });
  out.push({
    what: 'process RSS before any runtime: ready-made app (metrics and probes on, its own process) / the peer, after gc',
    ts: mib(m('ts', 'rssBaseline')),
    tsFloor: `${mib(m('ts', 'rssNode'))} bare \`node\``,
    go: mib(m('go', 'baseRss')),
    goFloor: '–',
    ratio: ratio(m('ts', 'rssBaseline'), m('go', 'baseRss')),
  });
  out.push({
    what: 'process RSS before any runtime: bench processes (runtimes only, no app), after gc',
    ts: mib(m('ts', 'baseRss')),
    tsFloor: '–',
    go: mib(m('go', 'baseRss')),
    goFloor: '–',
    ratio: ratio(m('ts', 'baseRss'), m('go', 'baseRss')),
  });
  for (const [kind, label] of [
    ['caching', `heap / RSS per runtime caching ${PODS.toLocaleString('en-US')} pods (${CACHING} running)`],
    ['idle', `heap / RSS per idle runtime (${IDLE} running)`],
  ] as const) {
    const v = both((side) => ({
      heap: m(side, `${kind}HeapPer`),
      rss: m(side, `${kind}RssPer`),
      heapBefore: m(side, `${kind}HeapBefore`),
      rssBefore: m(side, `${kind}RssBefore`),
    }));
    out.push({
      what: label,
      ts: pair(v.ts.heap, v.ts.rss, 'MiB'),
      tsFloor: `process before: ${pair(v.ts.heapBefore, v.ts.rssBefore, 'MiB', 1)}`,
      go: pair(v.go.heap, v.go.rss, 'MiB'),
      goFloor: `process before: ${pair(v.go.heapBefore, v.go.rssBefore, 'MiB', 1)}`,
      ratio: `${ratio(v.ts.heap, v.go.heap)} / ${ratio(v.ts.rss, v.go.rss)}`,
    });
  }
  const total = both((side) => ({ rss: m(side, 'scaleRss'), heap: m(side, 'scaleHeap'), base: m(side, 'baseRss') }));
  out.push({
    what: `total RSS with ${SCALE_RUNTIMES} runtimes, after gc (heap in brackets)`,
    ts: `${mib(total.ts.rss)} (${mib(total.ts.heap)})`,
    tsFloor: `process before any runtime: ${mib(total.ts.base)}`,
    go: `${mib(total.go.rss)} (${mib(total.go.heap)})`,
    goFloor: `process before any runtime: ${mib(total.go.base)}`,
    ratio: ratio(total.ts.rss, total.go.rss),
  });
  // The total is mostly each process's start (ours: node, the bench's own code, the root app); what
  // the runtimes themselves add is the part a fleet multiplies.
  out.push({
    what: `RSS the ${SCALE_RUNTIMES} runtimes add (total minus the process before any runtime)`,
    ts: mib(total.ts.rss - total.ts.base),
    tsFloor: '–',
    go: mib(total.go.rss - total.go.base),
    goFloor: '–',
    ratio: ratio(total.ts.rss - total.ts.base, total.go.rss - total.go.base),
  });
  const scale = both((side) => ({ synced: m(side, 'scaleSynced'), floor: m(side, 'scaleFloor') }));
  out.push({
    what: `${SCALE_RUNTIMES} runtimes spawned at once until all synced`,
    ts: ms(scale.ts.synced),
    tsFloor: `${ms(scale.ts.floor)} ${SCALE_RUNTIMES} bare lists at once: ${times(scale.ts.synced, scale.ts.floor)}`,
    go: ms(scale.go.synced),
    goFloor: `${ms(scale.go.floor)} ${SCALE_RUNTIMES} bare lists at once: ${times(scale.go.synced, scale.go.floor)}`,
    ratio: ratio(scale.ts.synced, scale.go.synced),
  });
  for (const p of [50, 99]) {
    const v = both((side) => ({ rec: m(side, `rec${p}`), watch: m(side, `watch${p}`) }));
    out.push({
      what: `event → reconcile p${p}, both sides watching at once under the peer's loadgen`,
      ts: ms(v.ts.rec),
      tsFloor: `bare watch ${ms(v.ts.watch)}`,
      go: ms(v.go.rec),
      goFloor: `bare watch ${ms(v.go.watch)}`,
      ratio: ratio(v.ts.rec, v.go.rec),
    });
  }
  out.push({
    what: 'reconcile time minus own bare-watch time, per change, p50 / p99',
    ts: pair(m('ts', 'diff50'), m('ts', 'diff99'), 'ms'),
    tsFloor: '–',
    go: pair(m('go', 'diff50'), m('go', 'diff99'), 'ms'),
    goFloor: '–',
    ratio: '–',
  });
  out.push({
    what: "CPU of the runtimes' process during the load",
    ts: `${m('ts', 'latencyCpu').toFixed(2)} s`,
    tsFloor: '–',
    go: `${m('go', 'latencyCpu').toFixed(2)} s`,
    goFloor: '–',
    ratio: ratio(m('ts', 'latencyCpu'), m('go', 'latencyCpu')),
  });
  return out;
}

export function printTable(s: Samples): void {
  const header: Row = {
    what: 'figure',
    ts: 'clusterregistry',
    tsFloor: 'its floor',
    go: 'Go peer',
    goFloor: 'its floor',
    ratio: 'TS/Go',
  };
  // A row of a step left out (--only) has no figure on either side.
  const measured = rows(s).filter((r) => !(r.ts.includes('NaN') && r.go.includes('NaN')));
  const all = [header, ...measured];
  const keys = Object.keys(header) as (keyof Row)[];
  const width = Object.fromEntries(keys.map((k) => [k, Math.max(...all.map((r) => r[k].length))])) as Record<
    keyof Row,
    number
  >;
  const line = (r: Row): string => `| ${keys.map((k) => r[k].padEnd(width[k])).join(' | ')} |`;
  console.log(line(header));
  console.log(`| ${keys.map((k) => '-'.repeat(width[k])).join(' | ')} |`);
  for (const r of all.slice(1)) console.log(line(r));
}
