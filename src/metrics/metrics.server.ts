import { createServer, type Server } from 'node:http';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Orchestrator } from '../lifecycle/orchestrator.js';
import { RemoteClusterRegistry } from '../registry/remote-cluster.registry.js';
import { RemoteClusterReconciler } from '../remotecluster/remote-cluster.reconciler.js';
import { PrometheusMetrics } from './prometheus-metrics.js';

/** Where /metrics listens when the library serves it itself (otherwise mount PrometheusMetrics
 * on your own HTTP server). */
export interface MetricsServerOptions {
  port: number;
  bindAddress?: string;
}

export const METRICS_SERVER_OPTIONS = Symbol('METRICS_SERVER_OPTIONS');

/** /metrics on its own port (a Service can expose it without exposing the probes). Made in
 * every app with metrics, served or not: it feeds PrometheusMetrics what is read at each scrape
 * (cluster phases, RemoteClusters' Ready, whether this replica is active). */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server?: Server;

  constructor(
    @Inject(METRICS_SERVER_OPTIONS) private readonly options: MetricsServerOptions | null,
    @Inject(PrometheusMetrics) private readonly metrics: PrometheusMetrics | null,
    registry: RemoteClusterRegistry,
    orchestrator: Orchestrator,
    @Optional() @Inject(RemoteClusterReconciler) remoteClusters?: RemoteClusterReconciler | null,
  ) {
    // State that is read at each scrape, wherever PrometheusMetrics.metrics() is served from.
    metrics?.onCollect(() => {
      metrics.clusterPhases(registry.list());
      metrics.active(orchestrator.active);
      metrics.remoteClusters(remoteClusters?.readiness() ?? []);
    });
  }

  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { options, metrics } = this;
    if (!options || !metrics) return;
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        () => res.writeHead(500).end('metrics could not be collected'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(options.port, options.bindAddress ?? '0.0.0.0', resolve);
    });
    this.logger.log(`metrics on http://${options.bindAddress ?? '0.0.0.0'}:${this.port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
