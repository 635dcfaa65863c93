import net from 'node:net';
import { ConfigError, bytesVar, enumVar, intVar, portVar, strVar, urlVar, type Env } from './env.ts';

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
  /** Bytes of offline pushes held (waiting for Redis, or in flight to it). */
  pushBufferLimitBytes: number;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Human-readable log lines (IMR_LOG_FORMAT=pretty, the default on a terminal) or JSON. */
  logPretty: boolean;
  /** Addresses allowed to link (IMR_ALLOW: IPs and CIDR ranges); undefined: any. */
  allow: net.BlockList | undefined;
  /** Subscriptions (users + rooms) one link may hold; beyond it SUBSCRIBEs are refused and counted. */
  linkMaxSubscriptions: number;
  /** IMR_SECRET: links must open with LINK_AUTH carrying it (this project's access servers, IM_ROUTE_SECRET). */
  secret: string | undefined;
}

/** `10.0.0.5,10.1.0.0/16,::1`: the access servers that may link. */
function allowVar(env: Env, name: string): net.BlockList | undefined {
  const v = strVar(env, name);
  if (v === undefined) return undefined;
  const list = new net.BlockList();
  for (const part of v.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const [addr, bits] = part.split('/');
    const type = net.isIPv6(addr!) ? 'ipv6' : net.isIPv4(addr!) ? 'ipv4' : undefined;
    if (type === undefined) throw new ConfigError(name, `"${part}" is not an IP address or CIDR range`);
    if (bits === undefined) list.addAddress(addr!, type);
    else {
      const n = Number(bits);
      if (!/^\d+$/.test(bits) || n > (type === 'ipv4' ? 32 : 128)) throw new ConfigError(name, `"${part}" has a bad prefix length`);
      list.addSubnet(addr!, n, type);
    }
  }
  return list;
}

export function routerConfig(env: Env = process.env): RouterConfig {
  return {
    host: strVar(env, 'IMR_HOST', '127.0.0.1'),
    port: portVar(env, 'IMR_PORT', 4444),
    httpPort: portVar(env, 'IMR_HTTP_PORT', 4445),
    redisUrl: urlVar(env, 'IMR_REDIS_URL', ['redis:', 'rediss:']),
    linkWriteLimit: bytesVar(env, 'IMR_LINK_WRITE_LIMIT', 64 * 1024 * 1024, 64 * 1024),
    pushBufferLimit: intVar(env, 'IMR_PUSH_BUFFER_LIMIT', 100_000, 0),
    pushBufferLimitBytes: bytesVar(env, 'IMR_PUSH_BUFFER_LIMIT_BYTES', 64 * 1024 * 1024, 64 * 1024),
    logLevel: enumVar(env, 'IMR_LOG_LEVEL', LOG_LEVELS, 'info'),
    logPretty: enumVar(env, 'IMR_LOG_FORMAT', ['json', 'pretty'] as const, process.stdout.isTTY === true ? 'pretty' : 'json') === 'pretty',
    allow: allowVar(env, 'IMR_ALLOW'),
    linkMaxSubscriptions: intVar(env, 'IMR_LINK_MAX_SUBSCRIPTIONS', 2_000_000, 1),
    secret: strVar(env, 'IMR_SECRET'),
  };
}
