import { pino, type Logger } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';

export type { Logger };

/**
 * JSON lines on stdout (what log shippers want), or colourised human-readable lines when
 * `pretty` (the default when stdout is a terminal). `name` tells which process or thread
 * wrote a line. Pretty printing is synchronous here: no extra transport thread per logger.
 * pino-pretty is required only when asked for: every thread that imports it pays ~1 MiB of heap.
 */
export function createLogger(name: string, level: string, prettyLines = process.stdout.isTTY === true): Logger {
  const opts = { name, level, base: { pid: process.pid } };
  return prettyLines ? pino(opts, (createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty)({ colorize: true, sync: true, translateTime: 'HH:MM:ss.l' })) : pino(opts);
}

/**
 * The start-up line `{"msg":"ready", …ports}` is written whatever the log level: scripts and
 * tests wait for it to learn the real ports (0 in the config means "any free port").
 */
export function logReady(log: Logger, fields: Record<string, unknown>): void {
  log.child({}, { level: 'info' }).info(fields, 'ready');
}
