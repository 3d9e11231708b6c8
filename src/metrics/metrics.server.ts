import { createServer, type Server } from 'node:http';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, type Settings } from '../config/settings.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { PrometheusMetrics } from './prometheus-metrics.js';

/** /metrics on its own port (a Service can expose it without exposing the probes). */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server?: Server;

  constructor(
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly metrics: PrometheusMetrics,
    private readonly registry: RemoteClusterRegistry,
  ) {}

  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      // Cluster phases are read at scrape time: always current, no timer.
      this.metrics.clusterPhases(this.registry.list());
      this.metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.settings.metricsPort, this.settings.bindAddress, resolve);
    });
    this.logger.log(`metrics on http://${this.settings.bindAddress}:${this.port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
