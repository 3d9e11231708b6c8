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

/** A kubeconfig document as text, with any part swapped, for Secrets with good or bad content. */
export function kubeconfigDoc(
  cluster: TestCluster,
  opts: {
    server?: string;
    caCert?: string;
    user?: Record<string, unknown>;
    currentContext?: string;
    /** Fields set on (or, with undefined, removed from) the cluster entry. */
    cluster?: Record<string, unknown>;
    /** Any other change to the whole document. */
    mutate?: (doc: Record<string, unknown>) => void;
  } = {},
): string {
  const doc: Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'c',
        cluster: {
          server: opts.server ?? cluster.info.server,
          'certificate-authority-data': b64(opts.caCert ?? cluster.info.ca.cert),
        },
      },
    ],
    users: [
      {
        name: 'u',
        user: opts.user ?? {
          'client-certificate-data': b64(cluster.info.admin.cert),
          'client-key-data': b64(cluster.info.admin.key),
        },
      },
    ],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': opts.currentContext ?? 'ctx',
  };
  const entry = (doc.clusters as { cluster: Record<string, unknown> }[])[0]!.cluster;
  for (const [field, value] of Object.entries(opts.cluster ?? {})) {
    if (value === undefined) delete entry[field];
    else entry[field] = value;
  }
  opts.mutate?.(doc);
  return JSON.stringify(doc);
}

/** The user entry of a kubeconfig that authenticates with this certificate and key. */
export function certUser(pair: { cert: string; key: string }): Record<string, string> {
  return { 'client-certificate-data': b64(pair.cert), 'client-key-data': b64(pair.key) };
}
