// Runs after the last test, whether tests passed or not. CLUSTERREGISTRY_KEEP_LOGS=1 keeps the
// control-plane logs for a post-mortem.
import { teardownTestClusters } from '../../dist/src/testing/index.js';

export default async function globalTeardown() {
  await teardownTestClusters();
}
