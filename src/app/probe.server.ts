import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  HttpException,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { HealthCheckService, type HealthIndicatorFunction } from '@nestjs/terminus';
import { ClusterRegistryHealthIndicator } from '../index.js';
import { SETTINGS, type Settings } from './settings.js';

/**
 * /healthz and /readyz for the kubelet, built on terminus's HealthCheckService and the
 * library's indicator. Two routes need no web framework: a plain node:http server keeps Express
 * (about 8 MiB) out of a process that serves nothing else.
 */
@Injectable()
export class ProbeServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Probes');
  private server?: Server;
  private readonly checks: Record<string, HealthIndicatorFunction[]>;

  constructor(
    private readonly health: HealthCheckService,
    registry: ClusterRegistryHealthIndicator,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {
    this.checks = {
      // Liveness depends on the process only: a cluster outage must never get the pod restarted.
      '/healthz': [],
      '/readyz': [() => registry.manage(), () => registry.clusters()],
    };
  }

  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.server = createServer((req, res) => void this.answer(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.settings.probePort, this.settings.bindAddress, resolve);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const checks = req.method === 'GET' ? this.checks[req.url?.split('?')[0] ?? ''] : undefined;
    if (!checks) {
      res.writeHead(404).end();
      return;
    }
    try {
      const result = await this.health.check(checks);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
    } catch (err) {
      // terminus answers a failing check with a 503 carrying the whole result.
      if (err instanceof HttpException) {
        res.writeHead(err.getStatus(), { 'content-type': 'application/json' }).end(JSON.stringify(err.getResponse()));
        return;
      }
      this.logger.error(`${req.url}: ${(err as Error).message}`);
      res.writeHead(500).end();
    }
  }
}
