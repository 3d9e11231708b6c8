// clusterregistry/testing: real local control planes for a user's tests, and what unit tests of
// reconcilers need. The Node check comes first on purpose.
import '../util/node-version.js';

// Real clusters: jest global setup and teardown, the clusters in a test, registering a remote
export {
  setupTestClusters,
  teardownTestClusters,
  testClusters,
  TestCluster,
  TEST_CLUSTERS_ENV,
  type TestClusters,
  type TestClustersOptions,
} from './clusters.js';
export { crdManifestPath, installCrds, registerRemoteCluster, type RemoteClusterRegistration } from './register.js';
export { eventually, flush, pollUntil } from './poll.js';

// Unit tests of a reconciler: an in-memory cache and a recording client
export { ReconcilerHarness, type ReconcilerHarnessOptions } from './reconciler-harness.js';
export { RecordingEventRecorder, type RecordedEvent } from './recording-recorder.js';
export * from './fake-transport.js';

// The control planes themselves (also `npm run clusters -- up`)
export { LocalClusters, clusterNames, MANAGE, type ClustersManifest } from '../envtest/local-clusters.js';
export { LocalCluster, type LocalClusterInfo } from '../envtest/local-cluster.js';
export { resolveControlPlaneBinaries, packageRoot, type ControlPlaneBinaries } from '../envtest/binaries.js';
export { installCrd, loadCrds } from '../envtest/crd.js';
export { issueClientCert } from '../envtest/pki.js';
