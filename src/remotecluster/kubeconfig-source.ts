import { KubeConfig, loadYaml } from '@kubernetes/client-node';
import type { KubeObject } from '../cache/types.js';
import { identityOf } from '../client/connection.js';

export type KubeconfigProblem =
  | 'SecretNotFound'
  | 'SecretNamespaceNotWatched'
  | 'KeyNotFound'
  | 'InvalidKubeconfig'
  | 'NoUsableContext'
  | 'UnsafeKubeconfig';

/** Why a Secret does not give a usable kubeconfig. The message names places, never content. */
export class KubeconfigError extends Error {
  constructor(
    readonly reason: KubeconfigProblem,
    message: string,
  ) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}

interface RawKubeconfig {
  kind?: string;
  clusters?: { name?: string; cluster?: Record<string, unknown> }[];
  users?: { name?: string; user?: Record<string, unknown> }[];
  contexts?: { name?: string; context?: { cluster?: string; user?: string } }[];
  'current-context'?: string;
}

/** Fields that would make the app read local files or run programs: a Secret must not be able to. */
const CLUSTER_FILE_FIELDS = ['certificate-authority'];
// client-node reads token-file while parsing, so these are refused before the document is loaded.
const USER_FILE_FIELDS = ['client-certificate', 'client-key', 'token-file', 'tokenFile'];
const USER_PLUGIN_FIELDS = ['exec', 'auth-provider'];

/**
 * Turns the Secret's kubeconfig into a KubeConfig, refusing anything that names local files or
 * plugins.
 */
export function kubeConfigFromSecret(
  secret: SecretLike | undefined,
  ref: { namespace: string; name: string; key: string },
): { kubeConfig: KubeConfig; identity: string; credential?: 'certificate' | 'token' } {
  const where = `Secret ${ref.namespace}/${ref.name}`;
  if (!secret) throw new KubeconfigError('SecretNotFound', `${where} does not exist`);
  const encoded = secret.data?.[ref.key];
  if (encoded === undefined) {
    const keys = Object.keys(secret.data ?? {});
    throw new KubeconfigError('KeyNotFound', `${where} has no key "${ref.key}" (keys: ${keys.join(', ') || 'none'})`);
  }
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  let parsedRaw: RawKubeconfig | undefined;
  try {
    parsedRaw = loadYaml<RawKubeconfig>(text);
  } catch (err) {
    throw new KubeconfigError(
      'InvalidKubeconfig',
      `${where} key "${ref.key}" is not YAML or JSON: ${(err as Error).name}`,
    );
  }
  // client-node's loader accepts many broken shapes silently: check the document as written.
  if (
    !parsedRaw ||
    typeof parsedRaw !== 'object' ||
    (parsedRaw.kind !== undefined && parsedRaw.kind !== 'Config') ||
    !Array.isArray(parsedRaw.clusters)
  ) {
    throw new KubeconfigError('InvalidKubeconfig', `${where} key "${ref.key}" is not a kubeconfig (no clusters list)`);
  }
  for (const c of parsedRaw.clusters ?? []) {
    for (const f of CLUSTER_FILE_FIELDS) {
      if (c.cluster?.[f]) throw unsafe(where, `cluster "${c.name}" names a local file (${f})`);
    }
  }
  for (const u of parsedRaw.users ?? []) {
    for (const f of USER_FILE_FIELDS)
      if (u.user?.[f]) throw unsafe(where, `user "${u.name}" names a local file (${f})`);
    for (const f of USER_PLUGIN_FIELDS) if (u.user?.[f]) throw unsafe(where, `user "${u.name}" uses an ${f} plugin`);
  }
  const contextName = parsedRaw['current-context'];
  const context = parsedRaw.contexts?.find((c) => c.name === contextName)?.context;
  if (!contextName || !context) {
    throw new KubeconfigError('NoUsableContext', `${where}: kubeconfig has no current-context, or it names no context`);
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new KubeconfigError(
      'InvalidKubeconfig',
      `${where} key "${ref.key}" is not a kubeconfig: ${(err as Error).message}`,
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new KubeconfigError('NoUsableContext', `${where}: context "${contextName}" names no cluster with a server`);
  }
  if (!kc.getCurrentUser()) {
    throw new KubeconfigError('NoUsableContext', `${where}: context "${contextName}" names no user`);
  }
  const user = kc.getCurrentUser();
  const credential = user?.certData ? 'certificate' : user?.token ? 'token' : undefined;
  return { kubeConfig: kc, identity: identityOf(kc), credential };
}

function unsafe(where: string, what: string): KubeconfigError {
  return new KubeconfigError(
    'UnsafeKubeconfig',
    `${where}: ${what}; a kubeconfig from a Secret must carry its credentials inline (certificate-authority-data, client-certificate-data, client-key-data or token)`,
  );
}
