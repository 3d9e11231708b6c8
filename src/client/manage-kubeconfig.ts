import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { Connection } from './connection.js';
import { KubeconfigError, parseKubeconfig } from './kubeconfig.js';
import { createDispatcher } from './transport.js';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go re-reads a service-account token file about every minute: tokens rotate. */
const TOKEN_REFRESH_MS = 60_000;

/** An Authorization header from a token file, read again about every minute (a projected
 * token rotates) and trimmed (`kubectl create token > file` ends it with a newline). */
export function tokenFileHeaders(file: string): () => Record<string, string> {
  let token = '';
  let readAt = -Infinity;
  return () => {
    if (performance.now() - readAt > TOKEN_REFRESH_MS) {
      token = readFileSync(file, 'utf8').trim();
      readAt = performance.now();
    }
    return { authorization: `Bearer ${token}` };
  };
}

/**
 * The manage cluster's kubeconfig, from the operator (trusted): KUBECONFIG, or the pod's service
 * account. Loaded without @kubernetes/client-node for the two common cases, a kubeconfig with its
 * credentials inline and the in-cluster config, because that library costs about 55 MiB of a
 * process that otherwise needs none of it; a kubeconfig that names files or runs a credential
 * plugin is handed to client-node (loaded then), which reads the files and runs the plugins. A
 * token file it reads once is read again here every minute, as client-go does.
 */
export class ManageKubeconfig {
  private constructor(
    /** Where it came from, for the log. */
    readonly source: string,
    /** Our own connection, or, for files and plugins, client-node's KubeConfig (which reads a
     * token file once: its path is kept to read it again as it rotates). */
    readonly load: { connection: () => Connection } | { kubeConfig: KubeConfig; tokenFile?: string },
  ) {}

  /** KUBECONFIG (its first path), else the in-cluster config, else undefined. */
  static load(env: NodeJS.ProcessEnv = process.env): ManageKubeconfig | undefined {
    const path = env.KUBECONFIG?.split(':').find(Boolean);
    if (path) return ManageKubeconfig.fromFile(path);
    if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
      return ManageKubeconfig.inCluster(env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT);
    }
    return undefined;
  }

  static fromFile(path: string): ManageKubeconfig {
    const text = readFileSync(path, 'utf8');
    try {
      // Trusted: plain http or skipped verification are the operator's choice here.
      const config = parseKubeconfig(text, { allowInsecure: true });
      return new ManageKubeconfig(`kubeconfig ${path}`, {
        connection: () => {
          const header: Record<string, string> =
            config.auth.type === 'token'
              ? { authorization: `Bearer ${config.auth.token}` }
              : config.auth.type === 'basic'
                ? {
                    authorization: `Basic ${Buffer.from(`${config.auth.username}:${config.auth.password}`).toString('base64')}`,
                  }
                : {};
          return {
            origin: config.server.origin,
            basePath: config.server.basePath,
            dispatcher: createDispatcher(config),
            authHeaders: () => header,
            credential: config.auth.type,
          };
        },
      });
    } catch (err) {
      if (!(err instanceof KubeconfigError && err.reason === 'UnsafeKubeconfig')) throw err;
      // Files and plugins: what client-node's KubeConfig is for.
      return new ManageKubeconfig(`kubeconfig ${path} (through client-node)`, {
        kubeConfig: loadClientNode(path),
        tokenFile: currentTokenFile(text),
      });
    }
  }

  static inCluster(host: string, port: string): ManageKubeconfig {
    const server = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`);
    return new ManageKubeconfig('the pod service account', {
      connection: () => {
        return {
          origin: server.origin,
          basePath: '',
          dispatcher: createDispatcher({
            server: { origin: server.origin, basePath: '', hostname: host, port: Number(port) },
            tls: { ca: readFileSync(join(SERVICE_ACCOUNT, 'ca.crt'), 'utf8'), rejectUnauthorized: true },
            auth: { type: 'none' },
            identity: '',
          }),
          authHeaders: tokenFileHeaders(join(SERVICE_ACCOUNT, 'token')),
          credential: 'token',
        };
      },
    });
  }
}

/** The current user's `token-file`, if it has one, as the path client-node read it from (a
 * relative one from the working directory), so the file read again is the file it read. */
function currentTokenFile(text: string): string | undefined {
  type Named<T> = { name?: unknown } & T;
  const doc = parseYaml(text) as {
    'current-context'?: unknown;
    contexts?: Named<{ context?: { user?: unknown } }>[];
    users?: Named<{ user?: { 'token-file'?: unknown } }>[];
  } | null;
  const context = doc?.contexts?.find((c) => c?.name === doc['current-context'])?.context;
  const file = doc?.users?.find((u) => u?.name === context?.user)?.user?.['token-file'];
  return typeof file === 'string' && file !== '' ? resolve(file) : undefined;
}

function loadClientNode(path: string): KubeConfig {
  // Synchronous and only here: require() of the ES module, which has no top-level await.
  const { KubeConfig: Loader } = createRequire(import.meta.url)('@kubernetes/client-node') as {
    KubeConfig: new () => KubeConfig;
  };
  const kc = new Loader();
  kc.loadFromFile(path);
  return kc;
}
