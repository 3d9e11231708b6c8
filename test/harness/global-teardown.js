// Runs after the last test, whether tests passed or not. CLUSTERREGISTRY_KEEP_LOGS=1 keeps the
// control-plane logs for a post-mortem.
import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const state = globalThis.__clusterregistryTest;
  if (!state) return;
  await state.control.close();
  await state.clusters.down();
  if (process.env.CLUSTERREGISTRY_KEEP_LOGS)
    process.stderr.write(`[harness] control-plane logs kept in ${state.clusters.dir}\n`);
  else rmSync(state.clusters.dir, { recursive: true, force: true });
}
