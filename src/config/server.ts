import { natsConfig, type NatsConfig } from './nats.ts';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ConfigError, addrListVar, bytesVar, enumVar, intVar, portVar, strVar, urlVar, type Env, type HostPort } from './env.ts';
import { LOG_LEVELS } from './router.ts';
import { MAX_BODY, ROUTED_MAX_BODY } from '../protocol/index.ts';
import { MAX_SHARDS } from '../subscribers/layout.ts';

/** Everything an access server needs, validated; handed to each thread in its start-up message. */
export interface ServerConfig {
  shards: number;
  /** Bind address of the client listeners (TCP, WS, TLS, WSS). */
  host: string;
  /** The WebSocket and WSS listeners' own bind addresses (IM_HOST unless set). */
  wsHost: string;
  wssHost: string;
  port: number;
  wsPort: number;
  tlsPort: number | undefined;
  wssPort: number | undefined;
  /** PEM text, read at start-up from IM_TLS_CERT / IM_TLS_KEY. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  httpHost: string;
  httpPort: number;
  httpToken: string | undefined;
  /** The dashboard's own listener (on IM_HTTP_HOST); undefined: none. */
  dashboardPort: number | undefined;
  routeAddrs: HostPort[];
  groupRouteAddrs: HostPort[];
  /** IM_NATS_URL: the NATS cluster that links access servers instead of routers. */
  nats: NatsConfig | undefined;
  auth: 'jwt' | 'redis';
  jwtSecret: string | undefined;
  /** Where the secret is kept when IM_JWT_SECRET is not set (generated on first start, mode 0600). */
  jwtSecretFile: string;
  redisUrl: string | undefined;
  subscriberCapacity: number;
  queueLimit: number;
  /** Bytes waiting for one client (its queue and its socket's buffer) before IM_QUEUE_POLICY applies. */
  queueLimitBytes: number;
  /** Over IM_QUEUE_LIMIT_BYTES: disconnect the slow client (logged), or drop its oldest frames. */
  queuePolicy: 'disconnect' | 'drop-oldest';
  /** Largest client frame body: at most ROUTED_MAX_BODY when linked to routers. */
  maxBody: number;
  clientTimeoutS: number;
  authTimeoutS: number;
  channelBatchBytes: number;
  channelQueueLimit: number;
  /** Bytes held for a router that is away, or unsent to one that does not read. */
  channelQueueLimitBytes: number;
  /** Bytes read from one client per event-loop turn (0: no bound). */
  readBudgetBytes: number;
  /** The longest pause between two attempts to reach a router. */
  routeReconnectMaxMs: number;
  /** IM_ROUTE_SECRET: presented to each router first (LINK_AUTH), for routers run with IMR_SECRET. */
  routeSecret: string | undefined;
  roomRule: 'none' | 'uid' | 'device';
  logLevel: (typeof LOG_LEVELS)[number];
  /** Human-readable log lines (IM_LOG_FORMAT=pretty, the default on a terminal) or JSON. */
  logPretty: boolean;
  shutdownTimeoutS: number;
  /** Young-generation size of each worker thread in MiB (0: V8's default); memory against GC frequency. */
  workerYoungMb: number;
  /** A call from the main thread to a shard, the Channel or the store that takes longer fails (a shard is replaced). */
  controlTimeoutMs: number;
  /** SQLite file of the embedded group source (used when no MySQL URL is set). */
  groupDb: string;
  mysqlUrl: string | undefined;
  groupCacheSize: number;
  groupCacheIdleS: number;
  /** The message store (docs/store.md): embedded SQLite, shared PostgreSQL, or off (pure relay). */
  store: 'sqlite' | 'postgres' | 'off';
  /** SQLite file of the embedded message store. */
  storeDb: string;
  /** Several access servers on this host write IM_STORE_DB. */
  storeShared: boolean;
  /** PostgreSQL transactions in flight at once (lanes of queues). */
  storePgLanes: number;
  storeUrl: string | undefined;
  /** Messages in one SYNC reply at most (a page). */
  syncLimit: number;
  /** When more than this many wait after a client's key, only the newest this many are offered (0: off). */
  syncHardLimit: number;
  /** Messages in one SYNC_GROUP reply at most (older ones are not offered). */
  groupSyncLimit: number;
  /** Messages older than this many days are swept away (0: kept for ever). */
  storeRetentionDays: number;
  /** A store call that takes longer fails (no ACK, no reply), as if the store were down. */
  storeTimeoutMs: number;
  /** GoBelieve's kefu_appid: one side of every CUSTOMER_V2 must be this app (0: none allowed). */
  kefuAppid: number;
  /** IM_TEST_HOOKS=1: enables POST /debug/crash_shard (for tests of supervision only). */
  testHooks: boolean;
}

function pem(env: Env, name: string): string | undefined {
  const path = strVar(env, name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(name, `cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * The dashboard's default port. The HTTP API stays on GoBelieve's 6666, which browsers
 * refuse to open (Chromium and Firefox block 6665-6669 and 6679 as IRC ports); 6680 is on
 * neither list.
 */
export const DASHBOARD_PORT = 6680;

/** Whether this server is linked to others (routers or NATS): the Channel thread runs. */
export function linked(c: Pick<ServerConfig, 'routeAddrs' | 'nats'>): boolean {
  return c.routeAddrs.length > 0 || c.nats !== undefined;
}

export function serverConfig(env: Env = process.env): ServerConfig {
  const tlsCert = pem(env, 'IM_TLS_CERT');
  const tlsKey = pem(env, 'IM_TLS_KEY');
  const tlsPort = strVar(env, 'IM_TLS_PORT') === undefined ? undefined : portVar(env, 'IM_TLS_PORT', 0);
  const wssPort = strVar(env, 'IM_WSS_PORT') === undefined ? undefined : portVar(env, 'IM_WSS_PORT', 0);
  if ((tlsPort !== undefined || wssPort !== undefined) && (tlsCert === undefined || tlsKey === undefined)) {
    throw new ConfigError(tlsCert === undefined ? 'IM_TLS_CERT' : 'IM_TLS_KEY', 'is required when IM_TLS_PORT or IM_WSS_PORT is set');
  }
  if (tlsCert !== undefined && tlsKey !== undefined) {
    // Checked here, once: a pair the shards cannot load would only kill them at start-up.
    try {
      tls.createSecureContext({ cert: tlsCert, key: tlsKey });
    } catch (err) {
      const msg = (err as Error).message;
      throw new ConfigError(/key/i.test(msg) && !/cert/i.test(msg) ? 'IM_TLS_KEY' : 'IM_TLS_CERT', `not a usable PEM certificate and key: ${msg}`);
    }
  }
  const auth = enumVar(env, 'IM_AUTH', ['jwt', 'redis'] as const, 'jwt');
  const redisUrl = urlVar(env, 'IM_REDIS_URL', ['redis:', 'rediss:']);
  if (auth === 'redis' && redisUrl === undefined) throw new ConfigError('IM_REDIS_URL', 'is required when IM_AUTH=redis');
  const routeAddrs = addrListVar(env, 'IM_ROUTE_ADDRS');
  const storeUrl = urlVar(env, 'IM_STORE_URL', ['postgres:', 'postgresql:']);
  const store = enumVar(env, 'IM_STORE', ['sqlite', 'postgres', 'off'] as const, storeUrl !== undefined ? 'postgres' : 'sqlite');
  if (store === 'postgres' && storeUrl === undefined) throw new ConfigError('IM_STORE_URL', 'is required when IM_STORE=postgres');
  const syncLimit = intVar(env, 'IM_SYNC_LIMIT', 3000, 1, 100_000);
  const syncHardLimit = intVar(env, 'IM_SYNC_HARD_LIMIT', 0, 0);
  if (syncHardLimit > 0 && syncHardLimit < 2 * syncLimit) {
    throw new ConfigError('IM_SYNC_HARD_LIMIT', `must be 0 (off) or at least twice IM_SYNC_LIMIT (${2 * syncLimit}), got ${syncHardLimit}`);
  }
  const groupRouteAddrs = addrListVar(env, 'IM_GROUP_ROUTE_ADDRS');
  const nats = natsConfig(env);
  if (nats !== undefined && routeAddrs.length + groupRouteAddrs.length > 0) {
    throw new ConfigError(routeAddrs.length > 0 ? 'IM_ROUTE_ADDRS' : 'IM_GROUP_ROUTE_ADDRS',
      'and IM_NATS_URL are two ways to link access servers: a server uses one of them (NATS for a cluster of these servers, routers to mix in GoBelieve\'s own)');
  }
  const linked = routeAddrs.length + groupRouteAddrs.length > 0 || nats !== undefined;
  const bodyCap = linked ? ROUTED_MAX_BODY : MAX_BODY;
  const maxBody = intVar(env, 'IM_MAX_BODY', bodyCap, 64, MAX_BODY);
  if (maxBody > bodyCap) {
    throw new ConfigError('IM_MAX_BODY', `must be at most ${bodyCap} on a server linked to routers or NATS (a larger message does not fit a route message), got ${maxBody}`);
  }
  const httpPort = portVar(env, 'IM_HTTP_PORT', 6666);
  const host = strVar(env, 'IM_HOST', '0.0.0.0');
  return {
    shards: intVar(env, 'IM_SHARDS', Math.max(1, availableParallelism() - 1), 1, MAX_SHARDS),
    host,
    wsHost: strVar(env, 'IM_WS_HOST', host),
    wssHost: strVar(env, 'IM_WSS_HOST', host),
    port: portVar(env, 'IM_PORT', 23000),
    wsPort: portVar(env, 'IM_WS_PORT', 13891),
    tlsPort, wssPort, tlsCert, tlsKey,
    httpHost: strVar(env, 'IM_HTTP_HOST', '127.0.0.1'),
    httpPort,
    dashboardPort: strVar(env, 'IM_DASHBOARD_PORT') === 'off' ? undefined : portVar(env, 'IM_DASHBOARD_PORT', httpPort === 0 ? 0 : DASHBOARD_PORT),
    httpToken: strVar(env, 'IM_HTTP_TOKEN'),
    routeAddrs,
    groupRouteAddrs,
    nats,
    auth,
    jwtSecret: strVar(env, 'IM_JWT_SECRET'),
    jwtSecretFile: strVar(env, 'IM_JWT_SECRET_FILE', 'data/jwt-secret'),
    redisUrl,
    subscriberCapacity: intVar(env, 'IM_SUBSCRIBER_CAPACITY', 1 << 18, 1, 1 << 26),
    queueLimit: intVar(env, 'IM_QUEUE_LIMIT', 300, 1),
    queueLimitBytes: bytesVar(env, 'IM_QUEUE_LIMIT_BYTES', 8 * 1024 * 1024, 64 * 1024),
    queuePolicy: enumVar(env, 'IM_QUEUE_POLICY', ['disconnect', 'drop-oldest'] as const, 'disconnect'),
    maxBody,
    clientTimeoutS: intVar(env, 'IM_CLIENT_TIMEOUT_S', 360, 1),
    authTimeoutS: intVar(env, 'IM_AUTH_TIMEOUT_S', 30, 1),
    channelBatchBytes: intVar(env, 'IM_CHANNEL_BATCH_BYTES', 256 * 1024, 1024),
    channelQueueLimit: intVar(env, 'IM_CHANNEL_QUEUE_LIMIT', 100_000, 0),
    channelQueueLimitBytes: bytesVar(env, 'IM_CHANNEL_QUEUE_LIMIT_BYTES', 64 * 1024 * 1024, 64 * 1024),
    readBudgetBytes: bytesVar(env, 'IM_READ_BUDGET_BYTES', 64 * 1024, 0),
    routeReconnectMaxMs: intVar(env, 'IM_ROUTE_RECONNECT_MAX_MS', 2000, 100, 600_000),
    routeSecret: strVar(env, 'IM_ROUTE_SECRET'),
    roomRule: enumVar(env, 'IM_ROOM_RULE', ['none', 'uid', 'device'] as const, 'none'),
    logLevel: enumVar(env, 'IM_LOG_LEVEL', LOG_LEVELS, 'info'),
    logPretty: enumVar(env, 'IM_LOG_FORMAT', ['json', 'pretty'] as const, process.stdout.isTTY === true ? 'pretty' : 'json') === 'pretty',
    shutdownTimeoutS: intVar(env, 'IM_SHUTDOWN_TIMEOUT_S', 10, 1),
    controlTimeoutMs: intVar(env, 'IM_CONTROL_TIMEOUT_MS', 5000, 100),
    // 4 MiB, measured (bench/RESULTS.md): fan-out peak RSS 244 → 168 MiB with one shard and
    // 1.08× the deliveries/s; peer IM within noise.
    workerYoungMb: intVar(env, 'IM_WORKER_YOUNG_MB', 4, 0, 1024),
    groupDb: strVar(env, 'IM_GROUP_DB', 'data/groups.db'),
    mysqlUrl: urlVar(env, 'IM_MYSQL_URL', ['mysql:']),
    groupCacheSize: intVar(env, 'IM_GROUP_CACHE_SIZE', 10_000, 1),
    groupCacheIdleS: intVar(env, 'IM_GROUP_CACHE_IDLE_S', 600, 1),
    store,
    storeDb: strVar(env, 'IM_STORE_DB', 'data/messages.db'),
    storeShared: intVar(env, 'IM_STORE_SHARED', 0, 0, 1) === 1,
    storePgLanes: intVar(env, 'IM_STORE_PG_LANES', 4, 1, 64),
    storeUrl,
    syncLimit,
    syncHardLimit,
    groupSyncLimit: intVar(env, 'IM_GROUP_SYNC_LIMIT', 100, 1, 100_000),
    storeRetentionDays: intVar(env, 'IM_STORE_RETENTION_DAYS', 0, 0),
    storeTimeoutMs: intVar(env, 'IM_STORE_TIMEOUT_MS', 5000, 100),
    kefuAppid: intVar(env, 'IM_KEFU_APPID', 0, 0),
    testHooks: intVar(env, 'IM_TEST_HOOKS', 0, 0, 1) === 1,
  };
}
