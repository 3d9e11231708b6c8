import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { LocalClusters } from './local-clusters.js';

/**
 * A small HTTP endpoint on 127.0.0.1 through which other processes (jest workers, a shell)
 * restart a cluster's apiserver or compact its etcd: the processes belong to whoever started
 * them, so only that process can restart them.
 *
 *   POST /clusters/<name>/restart-apiserver   -> 204
 *   POST /clusters/<name>/compact-etcd        -> 200 {"revision": n}
 */
export class ControlServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly token: string,
  ) {}

  static async listen(clusters: LocalClusters): Promise<ControlServer> {
    const token = randomBytes(16).toString('hex');
    const expected = Buffer.from(`Bearer ${token}`);
    const server = createServer((req, res) => {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        res.writeHead(401).end();
        return;
      }
      const match = /^\/clusters\/([^/]+)\/(restart-apiserver|compact-etcd)$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) {
        res.writeHead(404).end();
        return;
      }
      const [, name, action] = match;
      void (async () => {
        try {
          const cluster = clusters.get(decodeURIComponent(name!));
          if (action === 'restart-apiserver') {
            await cluster.restartApiserver();
            res.writeHead(204).end();
          } else {
            const revision = await cluster.compactEtcd();
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ revision }));
          }
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end((err as Error).message);
        }
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('control server has no address');
    return new ControlServer(server, `http://127.0.0.1:${address.port}`, token);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
