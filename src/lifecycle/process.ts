import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { Orchestrator } from './orchestrator.js';

export interface SignalOptions {
  /** SIGTERM to exit, at most; past it the process exits 1. */
  timeoutMs: number;
  logger: LoggerService;
  /** Runs after the app closed (local clusters of the embedded default, say). */
  after?: () => Promise<void>;
  signals?: NodeJS.Signals[];
}

/** An app to close: a NestJS application (context), or anything with close(). */
export type ClosableApp = { close(): Promise<void> } & Partial<Pick<INestApplicationContext, 'get'>>;

/**
 * Closes an app that imports ClusterRegistryModule: first every reconcile and runtime
 * (Orchestrator.stop()), then app.close(). app.close() alone destroys the app's own providers
 * (onModuleDestroy) while reconciles still run, since NestJS calls every onModuleDestroy before
 * any beforeApplicationShutdown. An app without the module is simply closed.
 */
export async function closeApp(app: ClosableApp): Promise<void> {
  let orchestrator: Orchestrator | undefined;
  try {
    orchestrator = app.get?.(Orchestrator, { strict: false });
  } catch {
    orchestrator = undefined; // not a clusterregistry app
  }
  await orchestrator?.stop();
  await app.close();
}

/**
 * Closes the app (closeApp) on SIGTERM or SIGINT within `timeoutMs` and exits 0 (1 on error or timeout).
 * NestJS's enableShutdownHooks() re-raises the signal after closing, so the process would end
 * "killed by SIGTERM" instead of with 0, and nothing bounds a close that hangs.
 */
export function exitOnSignals(app: ClosableApp, options: SignalOptions): void {
  const { logger, timeoutMs } = options;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down (at most ${timeoutMs} ms)`, 'Main');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out; exiting', 'Main');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    void (async () => {
      try {
        await closeApp(app);
        await options.after?.();
        logger.log('stopped', 'Main');
        process.exit(0);
      } catch (err) {
        logger.error(`shutdown failed: ${(err as Error).message}`, 'Main');
        process.exit(1);
      }
    })();
  };
  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) process.on(signal, shutdown);
}

/**
 * An unhandled rejection is a bug: it is logged as one, with the stack that tells where it came
 * from, and the process goes on (one cluster's bug must not stop every other cluster). An
 * uncaught exception leaves the process in an unknown state: logged, then exit 1.
 */
export function reportUnhandledErrors(logger: LoggerService): void {
  process.on('unhandledRejection', (reason) => {
    const stack = reason instanceof Error ? reason.stack : String(reason);
    logger.error(`BUG: unhandled promise rejection: ${stack}`, 'Process');
  });
  process.on('uncaughtException', (err, origin) => {
    logger.fatal?.(`BUG: ${origin}: ${err.stack ?? String(err)}`, 'Process');
    process.exit(1);
  });
}
