// Jest global setup of the integration project: the testing kit's own real clusters, as a user's
// jest setup would start them (README, "Testing"). Jest loads this file natively, outside its
// module mapper, so it uses the compiled package in dist/ (the test command builds first).
// Set CLUSTERREGISTRY_TEST_CLUSTERS to the clusters.json of `npm run clusters -- up` to reuse
// running clusters instead.
import { dirname } from 'node:path';
import { resolvePrometheusBinaries } from '../../dist/src/envtest/prometheus.js';
import { setupTestClusters } from '../../dist/src/testing/index.js';

export default async function globalSetup() {
  // Prometheus and promtool for the monitoring tests, obtained like the control-plane binaries:
  // built from the Go module proxy on a fresh machine (minutes, once; scripts/prometheus-binaries.sh),
  // here rather than inside a test's timeout. The tests then find them through PROMETHEUS_BINARIES.
  const { prometheus } = await resolvePrometheusBinaries();
  process.env.PROMETHEUS_BINARIES = dirname(prometheus);
  await setupTestClusters({ count: Number(process.env.CLUSTERREGISTRY_TEST_CLUSTER_COUNT ?? 3) });
}
