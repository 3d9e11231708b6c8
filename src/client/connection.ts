import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';

/** Where and how to connect, read once from a KubeConfig's current context. */
export interface Connection {
  origin: string;
  /** Path prefix of the server URL (usually empty). */
  basePath: string;
  tls: ConnectionOptions;
  /** Returns the Authorization header (if any) for the next request. */
  authHeaders: () => Promise<Record<string, string>>;
}

function fromDataOrFile(data: string | undefined, file: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return readFileSync(file);
  return undefined;
}

/**
 * Reads the current context of a KubeConfig into connection settings. TLS material is read once
 * (client-node would read files and build a new undici Agent on every request); the auth header
 * is static for tokens and basic auth, and delegated to client-node's authenticators (token
 * files, exec, OIDC) otherwise, which cache and refresh tokens themselves.
 */
export function connectionFrom(kc: KubeConfig): Connection {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new Error('kubeconfig has no current context with a cluster');
  const url = new URL(cluster.server);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && cluster.skipTLSVerify)) {
    throw new Error(`kubeconfig server must be https (got ${url.protocol})`);
  }
  const tls: ConnectionOptions = {
    ca: fromDataOrFile(cluster.caData, cluster.caFile),
    cert: fromDataOrFile(user?.certData, user?.certFile),
    key: fromDataOrFile(user?.keyData, user?.keyFile),
    rejectUnauthorized: !cluster.skipTLSVerify,
    servername: cluster.tlsServerName,
  };

  let authHeaders: Connection['authHeaders'];
  if (user?.token) {
    const header = { authorization: `Bearer ${user.token}` };
    authHeaders = () => Promise.resolve(header);
  } else if (user?.username) {
    const header = {
      authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`,
    };
    authHeaders = () => Promise.resolve(header);
  } else if (user?.authProvider || user?.exec) {
    authHeaders = async (): Promise<Record<string, string>> => {
      const opts: { headers?: Record<string, string> } = {};
      await kc.applyToHTTPSOptions(opts);
      const value = opts.headers?.Authorization ?? opts.headers?.authorization;
      return value ? { authorization: value } : {};
    };
  } else {
    authHeaders = () => Promise.resolve({});
  }

  return { origin: url.origin, basePath: url.pathname.replace(/\/$/, ''), tls, authHeaders };
}

/** What a runtime was started with, as a hash (never the content): a change restarts it. */
export function identityOf(kc: KubeConfig): string {
  return createHash('sha256').update(kc.exportConfig()).digest('hex');
}
