import { KubeConfig } from '@kubernetes/client-node';
import { issueClientCert } from '../../src/envtest/pki.js';
import type { TestCluster } from './clusters.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A kubeconfig for `cluster` with another server address (a proxy) or another user. */
export async function kubeConfigFor(
  cluster: TestCluster,
  opts: { server?: string; user?: string } = {},
): Promise<KubeConfig> {
  const client = opts.user ? await issueClientCert(cluster.info.ca, `CN=${opts.user}`) : cluster.info.admin;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: cluster.name, server: opts.server ?? cluster.info.server, caData: b64(cluster.info.ca.cert) }],
    users: [{ name: opts.user ?? 'admin', certData: b64(client.cert), keyData: b64(client.key) }],
    contexts: [{ name: 'ctx', cluster: cluster.name, user: opts.user ?? 'admin' }],
    currentContext: 'ctx',
  });
  return kc;
}
