#!/usr/bin/env node
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app/app.module.js';
import { startEmbedded, type Embedded } from './app/embedded.js';
import { manageKubeConfig } from './app/manage-config.js';
import { loadSettings } from './app/settings.js';
import { exitOnSignals, JsonLogger, MetricsServer, reportUnhandledErrors } from './index.js';
import { packageRoot } from './testing/index.js';

async function main(): Promise<void> {
  const settings = loadSettings();
  const logger = new JsonLogger(settings.logLevel);
  reportUnhandledErrors(logger);
  let { source, kubeConfig } = manageKubeConfig();
  let embedded: Embedded | undefined;
  if (source === 'none') {
    // No cluster given: bring our own (see README, "Run the ready-made app").
    const dir = process.env.CLUSTERREGISTRY_EMBEDDED_DIR ?? join(packageRoot(), '.clusters');
    mkdirSync(dir, { recursive: true });
    embedded = await startEmbedded(dir, settings.podNamespace);
    process.on('exit', () => embedded?.clusters.killNow());
    kubeConfig = embedded.manage;
    source = 'kubeconfig';
  }
  logger.log(`manage cluster from ${embedded ? 'the embedded default' : source}`, 'Main');

  const app = await NestFactory.create(AppModule.forRoot({ settings, manageKubeConfig: kubeConfig! }), {
    logger,
    abortOnError: false,
  });
  // The root owns the signals (never a cluster context).
  exitOnSignals(app, {
    timeoutMs: settings.shutdownTimeoutMs,
    logger,
    after: () => embedded?.clusters.down() ?? Promise.resolve(),
  });
  await app.listen(settings.probePort, settings.bindAddress);
  const probePort = Number(new URL(await app.getUrl()).port);
  logger.log(`probes on :${probePort} (/healthz, /readyz)`, 'Main');
  if (embedded) process.stdout.write(embedded.instructions(probePort, app.get(MetricsServer).port ?? 0) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`clusterregistry: ${(err as Error).message}\n`);
  process.exit(1);
});
