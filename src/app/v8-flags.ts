import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags the ready-made app sets for itself when it starts (src/main.ts), and that the README
 * recommends to apps that use the package.
 *
 * `--retain-maps-for-n-gc`: how many full collections V8 keeps a hidden class ("map") alive that
 * optimised code relies on after the last object of that shape died (V8's default: 2). A cluster
 * that stops takes the last objects of many shapes with it (its cached objects, its work queue,
 * informers and NestJS context); once their maps are collected, V8 throws away the optimised code
 * built on them (`--trace-deopt`: "embedded weak objects cleared", then "wrong map"), and the next
 * cluster to start decodes its first objects in slower tiers while V8 optimises again. With a
 * longer memory, a cluster started after others stopped, or the first one after a quiet spell,
 * runs the code the last one left. What it holds: only maps that optimised code embeds, each a
 * few hundred bytes, for 64 more full collections.
 */
export const APP_V8_FLAGS: readonly string[] = ['--retain-maps-for-n-gc=64'];

/** Sets APP_V8_FLAGS. V8 reads this one at each collection, so setting it once running works. */
export function applyAppV8Flags(): void {
  for (const flag of APP_V8_FLAGS) setFlagsFromString(flag);
}
