import { enumVar, intVar, portVar, strVar, urlVar, type Env } from './env.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface RouterConfig {
  /** Bind address for both ports: the router is internal, so loopback by default. */
  host: string;
  port: number;
  httpPort: number;
  redisUrl: string | undefined;
  /** Bytes queued to one access-server link before the router gives up on it. */
  linkWriteLimit: number;
  /** Offline pushes held while Redis is unreachable; beyond it the oldest are dropped. */
  pushBufferLimit: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

export function routerConfig(env: Env = process.env): RouterConfig {
  return {
    host: strVar(env, 'IMR_HOST', '127.0.0.1'),
    port: portVar(env, 'IMR_PORT', 4444),
    httpPort: portVar(env, 'IMR_HTTP_PORT', 4445),
    redisUrl: urlVar(env, 'IMR_REDIS_URL', ['redis:', 'rediss:']),
    linkWriteLimit: intVar(env, 'IMR_LINK_WRITE_LIMIT', 64 * 1024 * 1024, 64 * 1024),
    pushBufferLimit: intVar(env, 'IMR_PUSH_BUFFER_LIMIT', 100_000, 0),
    logLevel: enumVar(env, 'IMR_LOG_LEVEL', LOG_LEVELS, 'info'),
  };
}
