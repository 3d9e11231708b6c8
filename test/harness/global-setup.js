// Jest global setup of the integration project: the testing kit's own real clusters, as a user's
// jest setup would start them (README, "Testing"). Jest loads this file natively, outside its
// module mapper, so it uses the compiled package in dist/ (the test command builds first).
// Set CLUSTERREGISTRY_TEST_CLUSTERS to the clusters.json of `npm run clusters -- up` to reuse
// running clusters instead.
import { setupTestClusters } from '../../dist/src/testing/index.js';

export default async function globalSetup() {
  await setupTestClusters({ count: Number(process.env.CLUSTERREGISTRY_TEST_CLUSTER_COUNT ?? 3) });
}
