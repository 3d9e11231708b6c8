import { testClusters as kitClusters, type TestClusters } from '../../src/testing/clusters.js';

export { TestCluster, type TestClusters } from '../../src/testing/clusters.js';

/** The run's clusters; the integration tests need a manage and two remote clusters. */
export function testClusters(): TestClusters {
  const clusters = kitClusters();
  if (clusters.remotes.length < 2)
    throw new Error(`integration tests need two remote clusters, got ${clusters.remotes.length}`);
  return clusters;
}

/** A name no other test run on the same clusters will use. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}
