import { afterAll, beforeAll } from '@jest/globals';
import { Logger } from '@nestjs/common';

/** NestJS's logger off for the describe block that calls this (the engine logs every failure a
 * test provokes on purpose), and back to every level after it. */
export function quietNestLogs(): void {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
  });
}
