import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import { parseKubeconfig, type ClusterConnectionConfig, type TransportPolicy } from './kubeconfig.js';
import { ManageKubeconfig, tokenFileHeaders } from './manage-kubeconfig.js';
import type { NetworkPolicy } from './network-policy.js';
import { createDispatcher } from './transport.js';

/** Where and how one client reaches its cluster. */
export interface Connection {
  origin: string;
  /** Path prefix of the server URL (usually empty). */
  basePath: string;
  dispatcher: Pick<Dispatcher, 'request' | 'destroy'>;
  /** The Authorization header (if any) for the next request. */
  authHeaders(): Promise<Record<string, string>> | Record<string, string>;
  /** What the connection was made from (a keyed hash, never the content). */
  identity?: string;
  /** The kind of credential, so a 401 can say which one to fix. */
  credential: ClusterConnectionConfig['auth']['type'];
}

/** How remote connections may be made; the operator's settings, not a kubeconfig's. */
export interface ConnectionPolicy extends TransportPolicy {
  networkPolicy?: NetworkPolicy;
  connectTimeoutMs?: number;
}

/** What a remote cluster may be given as: a parsed kubeconfig, its text, or client-node's
 * KubeConfig. Text and KubeConfig go through parseKubeconfig: a remote kubeconfig is untrusted.
 * But client-node reads a user's `token-file` as it loads a KubeConfig, before that check: an
 * untrusted kubeconfig must come as text. */
export type ClusterConfigInput = ClusterConnectionConfig | string | { exportConfig(): string };

export function toConnectionConfig(input: ClusterConfigInput, policy: TransportPolicy = {}): ClusterConnectionConfig {
  if (typeof input === 'string') return parseKubeconfig(input, policy);
  if ('exportConfig' in input) return parseKubeconfig(input.exportConfig(), policy, { json: true });
  return input;
}

/** A remote cluster's connection: what parseKubeconfig decided, through the guarded transport. */
export function remoteConnection(
  config: ClusterConnectionConfig,
  policy: ConnectionPolicy = {},
  dispatcher?: Connection['dispatcher'],
): Connection {
  const { auth } = config;
  const header: Record<string, string> =
    auth.type === 'token'
      ? { authorization: `Bearer ${auth.token}` }
      : auth.type === 'basic'
        ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` }
        : {};
  return {
    origin: config.server.origin,
    basePath: config.server.basePath,
    dispatcher:
      dispatcher ??
      createDispatcher(config, { networkPolicy: policy.networkPolicy, connectTimeoutMs: policy.connectTimeoutMs }),
    authHeaders: () => header,
    identity: config.identity,
    credential: auth.type,
  };
}

function fromDataOrFile(data: string | undefined, file: string | undefined): string | undefined {
  if (data) return Buffer.from(data, 'base64').toString('utf8');
  if (file) return readFileSync(file, 'utf8');
  return undefined;
}

/**
 * The manage cluster's connection, from the operator's own kubeconfig (KUBECONFIG or the pod's
 * service account): files are read, a token file again every minute (it rotates), and exec and
 * auth-provider plugins are left to client-node's authenticators. Never used for a remote cluster.
 */
export function trustedConnection(
  source: KubeConfig | ManageKubeconfig,
  dispatcher?: Connection['dispatcher'],
  /** The user's token file, read again as it rotates (client-node read it once). */
  tokenFile?: string,
): Connection {
  if (source instanceof ManageKubeconfig) {
    if ('connection' in source.load) return source.load.connection();
    return trustedConnection(source.load.kubeConfig, dispatcher, source.load.tokenFile);
  }
  const kc = source;
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new Error('kubeconfig has no current context with a cluster');
  const url = new URL(cluster.server);
  const config: ClusterConnectionConfig = {
    server: {
      origin: url.origin,
      basePath: url.pathname.replace(/\/$/, ''),
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(url.port) || 443,
    },
    tls: {
      ca: fromDataOrFile(cluster.caData, cluster.caFile),
      cert: fromDataOrFile(user?.certData, user?.certFile),
      key: fromDataOrFile(user?.keyData, user?.keyFile),
      servername: cluster.tlsServerName,
      rejectUnauthorized: !cluster.skipTLSVerify,
    },
    auth: user?.token ? { type: 'token', token: user.token } : { type: user?.certData ? 'certificate' : 'none' },
    identity: '',
  };
  let authHeaders: Connection['authHeaders'];
  if (tokenFile) {
    authHeaders = tokenFileHeaders(tokenFile);
  } else if (user?.token) {
    const header = { authorization: `Bearer ${user.token.trim()}` };
    authHeaders = () => header;
  } else if (user?.username) {
    const header = {
      authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`,
    };
    authHeaders = () => header;
  } else if (user?.authProvider || user?.exec) {
    authHeaders = async (): Promise<Record<string, string>> => {
      const opts: { headers?: Record<string, string> } = {};
      await kc.applyToHTTPSOptions(opts);
      const value = opts.headers?.Authorization ?? opts.headers?.authorization;
      return value ? { authorization: value } : {};
    };
  } else {
    authHeaders = () => ({});
  }
  return {
    origin: config.server.origin,
    basePath: config.server.basePath,
    dispatcher: dispatcher ?? createDispatcher(config),
    authHeaders,
    credential: config.auth.type,
  };
}
