#!/usr/bin/env node
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app/app.module.js';
import { releaseBootMemory } from './app/boot-memory.js';
import { manageKubeConfig } from './app/manage-config.js';
import { ProbeServer } from './app/probe.server.js';
import { loadSettings } from './app/settings.js';
import { applyAppV8Flags } from './app/v8-flags.js';
import {
  ClusterRegistryHealthIndicator,
  exitOnSignals,
  JsonLogger,
  MetricsServer,
  reportUnhandledErrors,
} from './index.js';

async function main(): Promise<void> {
  applyAppV8Flags();
  const settings = loadSettings();
  const logger = new JsonLogger(settings.logLevel);
  reportUnhandledErrors(logger);
  const manage = manageKubeConfig();
  // No cluster given: bring our own (README, "Run the ready-made app"). Loaded only then: the
  // local control planes and their tooling are no part of a deployed app.
  const embedded = manage ? undefined : await (await import('./app/embedded.js')).startEmbedded(settings.podNamespace);
  logger.log(`manage cluster from ${embedded ? 'the embedded default' : manage!.source}`, 'Main');

  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({ settings, manageKubeConfig: embedded?.manage ?? manage! }),
    { logger, abortOnError: false },
  );
  // The root owns the signals (never a cluster context).
  exitOnSignals(app, {
    timeoutMs: settings.shutdownTimeoutMs,
    logger,
    after: () => embedded?.clusters.down() ?? Promise.resolve(),
  });
  const probePort = app.get(ProbeServer).port ?? 0;
  logger.log(`probes on :${probePort} (/healthz, /readyz)`, 'Main');
  const health = app.get(ClusterRegistryHealthIndicator);
  releaseBootMemory({ ready: () => health.clusters().clusters?.status === 'up', logger });
  if (embedded) process.stdout.write(embedded.instructions(probePort, app.get(MetricsServer).port ?? 0) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`clusterregistry: ${(err as Error).message}\n`);
  process.exit(1);
});
