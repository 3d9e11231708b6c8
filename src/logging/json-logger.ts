import { inspect } from 'node:util';
import type { LoggerService, LogLevel } from '@nestjs/common';
import { redact } from './redact.js';

const ORDER: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/** NestJS's start-up chatter, once per cluster context: debug, not info. */
const CHATTY_CONTEXTS = new Set([
  'InstanceLoader',
  'NestFactory',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/** One JSON object per line on stdout (errors on stderr), redacted, with a minimum level. */
export class JsonLogger implements LoggerService {
  private readonly min: number;

  constructor(
    level: LogLevel = 'log',
    private readonly write: (line: string, level: LogLevel) => void = (line, lvl) =>
      (lvl === 'error' || lvl === 'fatal' ? process.stderr : process.stdout).write(line + '\n'),
  ) {
    this.min = ORDER.indexOf(level);
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.emit('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.emit('fatal', message, rest);
  }

  private emit(level: LogLevel, message: unknown, rest: unknown[]): void {
    // NestJS passes the context as the last string argument, and a stack before it for errors.
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const effective = context && CHATTY_CONTEXTS.has(context) && level === 'log' ? 'debug' : level;
    if (ORDER.indexOf(effective) < this.min) return;
    const stack = typeof rest[0] === 'string' && rest[0].includes('\n    at ') ? (rest.shift() as string) : undefined;
    const text = message instanceof Error ? message.message : describe(message);
    const entry: Record<string, unknown> = {
      time: new Date().toISOString(),
      level: effective,
      context,
      msg: redact(text),
    };
    // What is left of the arguments (NestJS's ConsoleLogger prints each of them too).
    if (rest.length > 0) entry.details = rest.map((detail) => redact(describe(detail)));
    if (stack ?? (message instanceof Error ? message.stack : undefined)) {
      entry.stack = redact(stack ?? (message as Error).stack ?? '');
    }
    this.write(JSON.stringify(entry), effective);
  }
}

/** Any value as text, never throwing: a logger that throws on undefined, a cycle or a BigInt would
 * break whatever code logged it. */
function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return inspect(value, { depth: 3, breakLength: Infinity });
  }
}
