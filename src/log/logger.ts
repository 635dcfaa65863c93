import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; `name` tells which process (or thread) wrote them. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/**
 * The start-up line `{"msg":"ready", …ports}` is written whatever the log level: scripts and
 * tests wait for it to learn the real ports (0 in the config means "any free port").
 */
export function logReady(log: Logger, fields: Record<string, unknown>): void {
  log.child({}, { level: 'info' }).info(fields, 'ready');
}
