import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app/app.module.js';
import { startEmbedded, type Embedded } from './app/embedded.js';
import { manageKubeConfig } from './app/manage-config.js';
import { loadSettings } from './config/settings.js';
import { packageRoot } from './envtest/binaries.js';
import { PodSummaryReconciler } from './examples/pod-summary.reconciler.js';
import { JsonLogger } from './logging/json-logger.js';
import { MetricsServer } from './metrics/metrics.server.js';

async function main(): Promise<void> {
  const settings = loadSettings();
  const logger = new JsonLogger(settings.logLevel);
  let { source, kubeConfig } = manageKubeConfig();
  let embedded: Embedded | undefined;
  if (source === 'none') {
    // No cluster given: bring our own (see README, "Two commands").
    const dir = process.env.CLUSTERREGISTRY_EMBEDDED_DIR ?? join(packageRoot(), '.clusters');
    mkdirSync(dir, { recursive: true });
    embedded = await startEmbedded(dir, settings.podNamespace);
    process.on('exit', () => embedded?.clusters.killNow());
    kubeConfig = embedded.manage;
    source = 'kubeconfig';
  }
  logger.log(`manage cluster from ${embedded ? 'the embedded default' : source}`, 'Main');

  const app = await NestFactory.create(
    AppModule.forRoot({
      settings,
      manageKubeConfig: kubeConfig!,
      remoteReconcilers: process.env.EXAMPLE_RECONCILERS === 'false' ? [] : [PodSummaryReconciler],
    }),
    { logger, abortOnError: false },
  );
  await app.listen(settings.probePort, settings.bindAddress);
  const probePort = Number(new URL(await app.getUrl()).port);
  logger.log(`probes on :${probePort} (/healthz, /readyz)`, 'Main');
  if (embedded) process.stdout.write(embedded.instructions(probePort, app.get(MetricsServer).port ?? 0) + '\n');

  // The root owns the signals (never a cluster context): stop everything within the timeout.
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down (at most ${settings.shutdownTimeoutMs} ms)`, 'Main');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out; exiting', 'Main');
      process.exit(1);
    }, settings.shutdownTimeoutMs);
    timer.unref();
    void (async () => {
      try {
        await app.close();
        await embedded?.clusters.down();
        logger.log('stopped', 'Main');
        process.exit(0);
      } catch (err) {
        logger.error(`shutdown failed: ${(err as Error).message}`, 'Main');
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`clusterregistry: ${(err as Error).message}\n`);
  process.exit(1);
});
