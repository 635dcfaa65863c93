import { readFileSync } from 'node:fs';

/** The package's version, for `--version`. */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

type Row = [variable: string, fallback: string, meaning: string];

const IM: Row[] = [
  ['IM_SHARDS', 'cores - 1', 'shard worker threads'],
  ['IM_HOST', '0.0.0.0', 'bind address of the client listeners'],
  ['IM_PORT', '23000', 'TCP clients'],
  ['IM_WS_PORT', '13891', 'WebSocket clients (path /ws)'],
  ['IM_TLS_PORT, IM_WSS_PORT', 'unset', 'TLS and secure WebSocket listeners'],
  ['IM_TLS_CERT, IM_TLS_KEY', 'unset', 'PEM files'],
  ['IM_HTTP_HOST, IM_HTTP_PORT', '127.0.0.1, 6666', 'HTTP API'],
  ['IM_DASHBOARD_PORT', '6680 (0 with IM_HTTP_PORT=0)', 'the dashboard in a browser, on IM_HTTP_HOST; off: none'],
  ['IM_HTTP_TOKEN', 'unset', 'token for every HTTP request but /healthz'],
  ['IM_ROUTE_ADDRS', 'empty', 'routers host:port,...; empty = standalone'],
  ['IM_GROUP_ROUTE_ADDRS', 'IM_ROUTE_ADDRS', 'routers for groups'],
  ['IM_ROUTE_SECRET', 'unset', 'secret presented to routers run with IMR_SECRET'],
  ['IM_AUTH', 'jwt', 'jwt or redis'],
  ['IM_JWT_SECRET', 'kept in IM_JWT_SECRET_FILE', 'HMAC secret of client tokens'],
  ['IM_JWT_SECRET_FILE', 'data/jwt-secret', 'where a generated secret is kept (0600)'],
  ['IM_REDIS_URL', 'unset', 'Redis (IM_AUTH=redis, group changes across servers)'],
  ['IM_STORE', 'sqlite', 'message store: sqlite, postgres or off'],
  ['IM_STORE_DB', 'data/messages.db', 'SQLite file of the message store'],
  ['IM_STORE_SHARED', '0', '1: several access servers on this host share IM_STORE_DB'],
  ['IM_STORE_URL', 'unset', 'postgres://... shared by linked servers'],
  ['IM_STORE_TIMEOUT_MS', '5000', 'a slower store call fails (no ACK)'],
  ['IM_STORE_RETENTION_DAYS', '0', 'delete older messages (0: keep)'],
  ['IM_SYNC_LIMIT, IM_SYNC_HARD_LIMIT, IM_GROUP_SYNC_LIMIT', '3000, 0, 100', 'sync page sizes'],
  ['IM_KEFU_APPID', '0', 'customer-service app of CUSTOMER_V2'],
  ['IM_GROUP_DB', 'data/groups.db', 'SQLite group source'],
  ['IM_MYSQL_URL', 'unset', "GoBelieve's MySQL group tables instead"],
  ['IM_QUEUE_LIMIT', '300', 'frames waiting for a client that does not read'],
  ['IM_QUEUE_LIMIT_BYTES', '8MiB', 'bytes waiting for one client'],
  ['IM_QUEUE_POLICY', 'disconnect', 'over the byte limit: disconnect or drop-oldest'],
  ['IM_CHANNEL_QUEUE_LIMIT, IM_CHANNEL_QUEUE_LIMIT_BYTES', '100000, 64MiB', 'what waits for a router'],
  ['IM_CONTROL_TIMEOUT_MS', '5000', 'deadline of calls between threads'],
  ['IM_CLIENT_TIMEOUT_S, IM_AUTH_TIMEOUT_S', '360, 30', 'idle and unauthenticated connections are closed'],
  ['IM_LOG_LEVEL, IM_LOG_FORMAT', 'info, pretty on a terminal else json', 'logging'],
];

const IMR: Row[] = [
  ['IMR_HOST', '127.0.0.1', 'bind address'],
  ['IMR_PORT', '4444', 'access-server links'],
  ['IMR_HTTP_PORT', '4445', '/online, /all_online, /metrics, /healthz'],
  ['IMR_REDIS_URL', 'unset', 'offline push queues'],
  ['IMR_ALLOW', 'any', 'addresses that may link (IPs, CIDR ranges)'],
  ['IMR_SECRET', 'unset', 'links must present it first (IM_ROUTE_SECRET)'],
  ['IMR_LINK_WRITE_LIMIT', '64 MiB', 'bytes queued to one link before it is closed'],
  ['IMR_LINK_MAX_SUBSCRIPTIONS', '2000000', 'users + rooms one link may subscribe'],
  ['IMR_PUSH_BUFFER_LIMIT', '100000', 'pushes held while Redis is away'],
  ['IMR_LOG_LEVEL, IMR_LOG_FORMAT', 'info, pretty on a terminal else json', 'logging'],
];

function table(rows: Row[]): string {
  const w = Math.max(...rows.map((r) => r[0].length));
  const d = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([v, f, m]) => `  ${v.padEnd(w)}  ${f.padEnd(d)}  ${m}`).join('\n');
}

/** `--help` and `--version`: printed, then the process exits 0. False when neither was asked. */
export function answerFlags(argv: string[], program: 'im' | 'imr'): boolean {
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`${program} ${version()}\n`);
    return true;
  }
  if (!argv.includes('--help') && !argv.includes('-h')) return false;
  const what = program === 'im' ? 'the access server (GoBelieve-compatible)' : 'the router (GoBelieve-compatible)';
  process.stdout.write(`${program} ${version()}: ${what}\nUsage: ${program} [--config FILE | FILE]\n`
    + `Configuration comes from the environment, over GoBelieve's ${program}.cfg (TOML) when one is given, over the defaults;\n`
    + `a bad value stops start-up with exit 2.\n\n`
    + `  variable  default  meaning\n${table(program === 'im' ? IM : IMR)}\n\nSee README.md for every variable.\n`);
  return true;
}
