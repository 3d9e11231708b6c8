// clusterregistry/testing: real local control planes for a user's tests, and helpers.
import '../util/node-version.js';

export { LocalClusters, clusterNames, MANAGE, type ClustersManifest } from '../envtest/local-clusters.js';
export { LocalCluster, type LocalClusterInfo } from '../envtest/local-cluster.js';
export { resolveControlPlaneBinaries, packageRoot, type ControlPlaneBinaries } from '../envtest/binaries.js';
export { installCrd, loadCrds } from '../envtest/crd.js';
export { ControlServer } from '../envtest/control-server.js';
export { issueClientCert } from '../envtest/pki.js';
export { pollUntil } from '../envtest/http.js';
