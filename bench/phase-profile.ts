// Where a timed phase's main-thread time goes, by part: V8's sampling CPU profiler (through the
// inspector, in this process) started before the phase and stopped after it. Its samples perturb
// what they measure (a few per cent), so benches take it only on request (bench:scale with
// SCALE_PROFILE=1), never for their figures.
import { Session } from 'node:inspector/promises';

/** The parts a phase's samples are summed into, in the order they are printed. */
export const PARTS = ['NestJS', 'collector', 'engine', 'client and undici', 'node', 'idle', 'other'] as const;
export type Part = (typeof PARTS)[number];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

/** Which part a sampled function belongs to, by its script's path (built code under dist/src). */
export function partOf(frame: ProfileNode['callFrame']): Part {
  const { functionName: name, url } = frame;
  if (name === '(garbage collector)') return 'collector';
  if (name === '(idle)') return 'idle';
  if (/node_modules\/(@nestjs\/|iterare\/|reflect-metadata\/)/.test(url)) return 'NestJS';
  if (/node_modules\/undici\/|\/dist\/src\/client\//.test(url)) return 'client and undici';
  if (/\/dist\/src\//.test(url)) return 'engine';
  if (url.startsWith('node:')) return 'node';
  return 'other';
}

/** Milliseconds per part of one profile. */
export function split(profile: {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}): Record<Part, number> {
  const parts = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!);
    if (node) parts[partOf(node.callFrame)] += (deltas[i] ?? 0) / 1000;
  }
  return parts;
}

/** Runs `work` under the profiler and returns its result with the phase's split. */
export async function profiled<T>(work: () => Promise<T>): Promise<{ result: T; parts: Record<Part, number> }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    const result = await work();
    const { profile } = await session.post('Profiler.stop');
    return { result, parts: split(profile) };
  } finally {
    session.disconnect();
  }
}
