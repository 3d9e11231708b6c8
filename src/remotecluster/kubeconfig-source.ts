import type { KubeObject } from '../cache/types.js';

/** Why a RemoteCluster's Secret does not hold a kubeconfig to parse at all. What the kubeconfig
 * itself gets wrong is a KubeconfigError of the parser (InvalidKubeconfig, UnsafeKubeconfig…). */
export type SecretProblem = 'InvalidSecretRef' | 'SecretNotFound' | 'SecretNamespaceNotWatched' | 'KeyNotFound';

export class SecretSourceError extends Error {
  override readonly name = 'SecretSourceError';

  constructor(
    readonly reason: SecretProblem,
    message: string,
  ) {
    super(message);
  }
}

interface SecretLike extends KubeObject {
  data?: unknown;
}

export interface SecretRef {
  namespace: string;
  name: string;
  key: string;
}

/**
 * The kubeconfig text of a RemoteCluster's Secret (the registry parses it under the operator's
 * connection policy). Messages name places (the Secret, the key), never content.
 */
export function kubeconfigFromSecret(secret: SecretLike | undefined, ref: SecretRef): string {
  const where = `Secret ${ref.namespace}/${ref.name}`;
  if (!secret) throw new SecretSourceError('SecretNotFound', `${where} does not exist`);
  const data = typeof secret.data === 'object' && secret.data !== null ? (secret.data as Record<string, unknown>) : {};
  const encoded = data[ref.key];
  if (typeof encoded !== 'string') {
    // Key names are the Secret's own structure, not its content, and tell the operator what to fix.
    const keys = Object.keys(data).slice(0, 20).join(', ');
    throw new SecretSourceError('KeyNotFound', `${where} has no key "${ref.key}" (keys: ${keys || 'none'})`);
  }
  return Buffer.from(encoded, 'base64').toString('utf8');
}
