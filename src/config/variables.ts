/**
 * Every environment variable of `im` and `imr`, once: its default and meaning as `--help`
 * prints them (`short`) and as the README's configuration tables show them (`meaning`,
 * markdown). The README's tables are written from here (`npm run docs`), and a test checks
 * that every variable the configuration modules read is listed, and that the README agrees.
 */

/** The few every operator sets; the limits (with their measured defaults); the advanced knobs. */
export type Group = 'basic' | 'limits' | 'advanced';

export interface Variable {
  group: Group;
  /** One or more variables described together. */
  names: string[];
  /** As shown to people (markdown). */
  default: string;
  /** One line for --help. */
  short: string;
  meaning: string;
}

export const IM_VARIABLES: readonly Variable[] = [
  {
    group: 'basic', names: ["IM_SHARDS"], default: "cores − 1 (≥ 1)",
    short: "shard worker threads",
    meaning: "shard worker threads (1–64)",
  },
  {
    group: 'basic', names: ["IM_HOST"], default: "`0.0.0.0`",
    short: "bind address of the client listeners",
    meaning: "bind address of the client listeners",
  },
  {
    group: 'advanced', names: ["IM_WS_HOST", "IM_WSS_HOST"], default: "`IM_HOST`",
    short: "bind address of the WebSocket (WSS) listener",
    meaning: "bind address of the WebSocket (WSS) listener alone; set from the host of a GoBelieve `ws_address` (`wss_address`)",
  },
  {
    group: 'basic', names: ["IM_PORT"], default: "23000",
    short: "TCP clients",
    meaning: "TCP clients",
  },
  {
    group: 'basic', names: ["IM_WS_PORT"], default: "13891",
    short: "WebSocket clients (path /ws)",
    meaning: "WebSocket clients, path `/ws`",
  },
  {
    group: 'basic', names: ["IM_TLS_PORT", "IM_WSS_PORT"], default: "unset",
    short: "TLS and secure WebSocket listeners",
    meaning: "TLS and secure WebSocket listeners (need the two below)",
  },
  {
    group: 'basic', names: ["IM_TLS_CERT", "IM_TLS_KEY"], default: "unset",
    short: "PEM files",
    meaning: "PEM files",
  },
  {
    group: 'basic', names: ["IM_HTTP_HOST", "IM_HTTP_PORT"], default: "`127.0.0.1`, 6666",
    short: "HTTP API",
    meaning: "HTTP API",
  },
  {
    group: 'basic', names: ["IM_DASHBOARD_PORT"], default: "6680 (0 when `IM_HTTP_PORT` is 0)",
    short: "the dashboard in a browser, on IM_HTTP_HOST; off: none",
    meaning: "the dashboard's own listener, on `IM_HTTP_HOST`: browsers refuse to open 6666 (Chromium and Firefox block 6665–6669 as IRC ports); `off`: none. The `ready` line says where it is. Left unset, a taken 6680 (another server on this host) is no error: one warning, and the dashboard takes a free port; set, a taken port stops start-up",
  },
  {
    group: 'basic', names: ["IM_HTTP_TOKEN"], default: "unset",
    short: "token for every HTTP request but /healthz",
    meaning: "admin token for every HTTP request but `/healthz` (`Authorization: Bearer …`; a GET of the dashboard or its event stream may pass `?token=…` instead, nothing else: a token in a URL lands in access logs); start-up warns when the API listens beyond loopback without it",
  },
  {
    group: 'basic', names: ["IM_ROUTE_ADDRS"], default: "empty",
    short: "routers host:port,...; empty = standalone",
    meaning: "routers, `host:port,…`; empty = one standalone server",
  },
  {
    group: 'advanced', names: ["IM_GROUP_ROUTE_ADDRS"], default: "empty",
    short: "routers for groups",
    meaning: "routers for groups (default: `IM_ROUTE_ADDRS`)",
  },
  {
    group: 'basic', names: ["IM_NATS_URL"], default: "empty",
    short: "NATS servers linking access servers, instead of routers",
    meaning: "the NATS cluster that links this access server to the others, instead of routers: `nats://h1:4222,nats://h2:4222`, `user:pass@` or `token@` in the URL, `tls://` for TLS (README, \"Running a cluster\"). Not with `IM_ROUTE_ADDRS`",
  },
  {
    group: 'advanced', names: ["IM_NATS_CREDS"], default: "unset",
    short: "NATS credentials file (.creds or nkey seed)",
    meaning: "a NATS `.creds` file (user JWT and seed) or a file holding an nkey seed, instead of credentials in `IM_NATS_URL`",
  },
  {
    group: 'advanced', names: ["IM_NATS_CA"], default: "unset",
    short: "CA file of the NATS servers' certificates",
    meaning: "the CA certificate (PEM file) that signs the NATS servers' certificates, for `tls://` servers with a private CA",
  },
  {
    group: 'advanced', names: ["IM_NATS_PREFIX"], default: "`im`",
    short: "first tokens of every NATS subject",
    meaning: "every NATS subject this server uses starts with it: two clusters may share one NATS with different prefixes",
  },
  {
    group: 'basic', names: ["IM_AUTH"], default: "`jwt`",
    short: "jwt or redis",
    meaning: "`jwt` or `redis`",
  },
  {
    group: 'basic', names: ["IM_JWT_SECRET"], default: "kept in `IM_JWT_SECRET_FILE`",
    short: "HMAC secret of client tokens",
    meaning: "HMAC secret; tokens carry integer claims `appid`, `uid`",
  },
  {
    group: 'advanced', names: ["IM_JWT_SECRET_FILE"], default: "`data/jwt-secret`",
    short: "where a generated secret is kept (0600)",
    meaning: "where the secret is kept when `IM_JWT_SECRET` is not set: read if it exists, else generated once and written (mode 0600), so tokens stay valid across restarts",
  },
  {
    group: 'basic', names: ["IM_REDIS_URL"], default: "unset",
    short: "Redis (IM_AUTH=redis, group changes across servers)",
    meaning: "Redis for `IM_AUTH=redis` (`access_token_<token>` hashes)",
  },
  {
    group: 'limits', names: ["IM_SUBSCRIBER_CAPACITY"], default: "262144",
    short: "users + rooms the subscriber table holds",
    meaning: "users + rooms the subscriber table holds; a login beyond it gets AUTH_STATUS 1. A bound, not a reservation: the table (and each shard's ledger) grows with the keys online, 2 MiB up to 16,384 keys, doubling after",
  },
  {
    group: 'limits', names: ["IM_QUEUE_LIMIT"], default: "300",
    short: "frames waiting for a client that does not read",
    meaning: "frames waiting for a client that does not read (the oldest beyond are dropped)",
  },
  {
    group: 'limits', names: ["IM_QUEUE_LIMIT_BYTES"], default: "8MiB",
    short: "bytes waiting for one client",
    meaning: "bytes waiting for one client (its queue and its socket's buffer); accepts `8388608`, `8MiB`, `512KiB`",
  },
  {
    group: 'limits', names: ["IM_QUEUE_POLICY"], default: "`disconnect`",
    short: "over the byte limit: disconnect or drop-oldest",
    meaning: "past `IM_QUEUE_LIMIT_BYTES`: `disconnect` the slow client (logged, `im_slow_consumers_total`) or `drop-oldest`",
  },  {
    group: 'limits', names: ["IM_READ_BUDGET_BYTES"], default: "64KiB",
    short: "bytes read from one client per turn (0: no bound)",
    meaning: "bytes read from one client in one turn of its shard's event loop; past it, that client's reads wait for the next turn, so that one client sending flat out slows itself (its TCP window fills), not its neighbours. 0: no bound",
  },

  {
    group: 'limits', names: ["IM_MAX_BODY"], default: "32767; 32713 when linked",
    short: "largest message body a client may send",
    meaning: "largest frame body accepted from clients and the HTTP API; on a server with `IM_ROUTE_ADDRS` at most 32713, the largest whose message still fits a route message within the protocol's 32 KiB frame",
  },
  {
    group: 'limits', names: ["IM_CLIENT_TIMEOUT_S"], default: "360",
    short: "a connection that sends nothing this long is closed",
    meaning: "idle connections are closed",
  },
  {
    group: 'advanced', names: ["IM_AUTH_TIMEOUT_S"], default: "30",
    short: "a connection not authenticated this long is closed",
    meaning: "connections that do not authenticate are closed",
  },
  {
    group: 'advanced', names: ["IM_CHANNEL_BATCH_BYTES"], default: "262144",
    short: "bytes one write to a router carries at most",
    meaning: "largest single write to a router",
  },
  {
    group: 'limits', names: ["IM_CHANNEL_QUEUE_LIMIT"], default: "100000",
    short: "publishes that wait for a router that is away",
    meaning: "publishes held per router while it is away",
  },
  {
    group: 'advanced', names: ["IM_ROUTE_SECRET"], default: "unset",
    short: "secret presented to routers run with IMR_SECRET",
    meaning: "presented to every router first (`LINK_AUTH`), for routers run with `IMR_SECRET`; a router without one ignores it",
  },
  {
    group: 'advanced', names: ["IM_CHANNEL_QUEUE_LIMIT_BYTES"], default: "64MiB",
    short: "bytes that wait for a router, away or slow",
    meaning: "bytes held per router while it is away, and bytes of publishes that may wait unsent to a connected one (beyond: dropped, counted as `router_backlog`; a router that takes nothing for 2 s with that much waiting is taken for down, redialled, re-subscribed)",
  },
  {
    group: 'advanced', names: ["IM_ROOM_RULE"], default: "`none`",
    short: "room membership: per uid or per device",
    meaning: "one connection per user (`uid`) or per device (`device`) in a room",
  },
  {
    group: 'limits', names: ["IM_SHUTDOWN_TIMEOUT_S"], default: "10",
    short: "how long a stop waits for connections to close",
    meaning: "graceful shutdown limit",
  },
  {
    group: 'advanced', names: ["IM_WORKER_YOUNG_MB"], default: "4",
    short: "V8's young generation of each thread (0: V8's own)",
    meaning: "young-generation size of each worker thread, MiB (0: V8's default): less memory against more frequent minor GCs",
  },
  {
    group: 'advanced', names: ["IM_ROUTE_RECONNECT_MAX_MS"], default: "2000",
    short: "longest pause between attempts to reach a router",
    meaning: "a lost router is dialled again after 100 ms, then after pauses doubling up to this (with jitter, so that servers do not come back in step)",
  },
  {
    group: 'limits', names: ["IM_CONTROL_TIMEOUT_MS"], default: "5000",
    short: "deadline of calls between threads",
    meaning: "a call from the main thread to a shard, the Channel or the store that takes longer fails; a shard that misses it is pinged, and replaced only when it misses the ping too (an HTTP post, which waits on the store and the group source, has their deadlines on top)",
  },
  {
    group: 'advanced', names: ["IM_GROUP_DB"], default: "`data/groups.db`",
    short: "SQLite group source",
    meaning: "SQLite file of the embedded group source",
  },
  {
    group: 'basic', names: ["IM_MYSQL_URL"], default: "unset",
    short: "GoBelieve's MySQL group tables instead",
    meaning: "`mysql://user:pass@host:port/db`: GoBelieve's group tables instead of SQLite",
  },
  {
    group: 'advanced', names: ["IM_GROUP_CACHE_SIZE"], default: "10000",
    short: "groups each shard keeps in memory",
    meaning: "groups cached per shard",
  },
  {
    group: 'advanced', names: ["IM_GROUP_CACHE_IDLE_S"], default: "600",
    short: "an unused group leaves the cache after this",
    meaning: "a cached group unused this long is dropped",
  },
  {
    group: 'basic', names: ["IM_STORE"], default: "`sqlite` (`postgres` when `IM_STORE_URL` is set)",
    short: "message store: sqlite, postgres or off",
    meaning: "message store: `sqlite`, `postgres` or `off` (pure relay)",
  },
  {
    group: 'basic', names: ["IM_STORE_DB"], default: "`data/messages.db`",
    short: "SQLite file of the message store",
    meaning: "SQLite file of the embedded store (created 0600 in a 0700 folder). A second server on a file another one holds stops at once, naming it",
  },
  {
    group: 'advanced', names: ["IM_STORE_SHARED"], default: "0",
    short: "1: several access servers on this host share IM_STORE_DB",
    meaning: "1: several access servers on this host write `IM_STORE_DB` (keys handed out inside each write transaction; `npm run cluster` does this). Across machines use PostgreSQL. The store shares stored messages only: without routers (`IM_ROUTE_ADDRS`) nothing is delivered live between the servers, and start-up warns",
  },  {
    group: 'advanced', names: ["IM_STORE_PG_LANES"], default: "4",
    short: "PostgreSQL save transactions in flight at once",
    meaning: "PostgreSQL save transactions in flight at once: each sender belongs to one lane, whose transactions run one after the other (a message commits whole, and a sender's messages keep their order in every queue), lanes in parallel so that their commits share the disk's flushes. 1: one transaction at a time",
  },

  {
    group: 'basic', names: ["IM_STORE_URL"], default: "unset",
    short: "postgres://... shared by linked servers",
    meaning: "`postgres://user:pass@host:port/db`: the store shared by linked access servers",
  },
  {
    group: 'limits', names: ["IM_STORE_TIMEOUT_MS"], default: "5000",
    short: "a slower store call fails (no ACK)",
    meaning: "a store call slower than this fails (no ACK, no sync reply)",
  },
  {
    group: 'limits', names: ["IM_STORE_RETENTION_DAYS"], default: "0",
    short: "delete older messages (0: keep)",
    meaning: "messages older than this are deleted in the background (0: kept)",
  },
  {
    group: 'limits', names: ["IM_SYNC_LIMIT"], default: "3000",
    short: "messages in one SYNC reply",
    meaning: "messages in one SYNC reply",
  },
  {
    group: 'limits', names: ["IM_SYNC_HARD_LIMIT"], default: "0",
    short: "past this many waiting, a sync offers the newest only",
    meaning: "with more than this many waiting, only the newest are offered (0: off; else ≥ 2 × `IM_SYNC_LIMIT`)",
  },
  {
    group: 'limits', names: ["IM_GROUP_SYNC_LIMIT"], default: "100",
    short: "messages in one SYNC_GROUP reply",
    meaning: "messages in one SYNC_GROUP reply",
  },
  {
    group: 'basic', names: ["IM_KEFU_APPID"], default: "0",
    short: "customer-service app of CUSTOMER_V2",
    meaning: "GoBelieve's `kefu_appid`: one side of each CUSTOMER_V2 must be this app",
  },
  {
    group: 'advanced', names: ["IM_TEST_HOOKS"], default: "0",
    short: "test hooks (/debug/*); never in production",
    meaning: "1 enables `POST /debug/crash_shard?shard=N`, `/debug/hang_shard?shard=N&ms=M`, `/debug/crash_channel`, `/debug/crash_store` and `/debug/gc` for tests and benchmarks; never in production",
  },
  {
    group: 'basic', names: ["IM_LOG_LEVEL"], default: "`info`",
    short: "pino log level",
    meaning: "pino level: one line per connection event at `debug`, per error at `warn`",
  },
  {
    group: 'basic', names: ["IM_LOG_FORMAT"], default: "`pretty` on a terminal, else `json`",
    short: "log lines as JSON or human-readable",
    meaning: "log lines as JSON or human-readable",
  },
];

export const IMR_VARIABLES: readonly Variable[] = [
  {
    group: 'basic', names: ["IMR_HOST"], default: "`127.0.0.1`",
    short: "bind address",
    meaning: "bind address",
  },
  {
    group: 'basic', names: ["IMR_PORT"], default: "4444",
    short: "access-server links",
    meaning: "access-server links",
  },
  {
    group: 'basic', names: ["IMR_HTTP_PORT"], default: "4445",
    short: "/online, /all_online, /metrics, /healthz",
    meaning: "`/online?appid=&uid=`, `/all_online`, `/metrics`, `/healthz`",
  },
  {
    group: 'basic', names: ["IMR_REDIS_URL"], default: "unset",
    short: "offline push queues",
    meaning: "offline push queues (`push_queue`, `group_push_queue`, `system_push_queue`, `customer_push_queue_v2`); unset = counted and logged at debug level",
  },
  {
    group: 'limits', names: ["IMR_LINK_WRITE_LIMIT"], default: "64 MiB",
    short: "bytes queued to one link before it is closed",
    meaning: "bytes that may wait for one link: beyond, frames for it are dropped (counted); a link that takes nothing for 2 s with that much waiting is closed",
  },
  {
    group: 'limits', names: ["IMR_PUSH_BUFFER_LIMIT"], default: "100000",
    short: "pushes held while Redis is away",
    meaning: "pushes held while Redis is unreachable or slower than they come (oldest dropped)",
  },
  {
    group: 'limits', names: ["IMR_PUSH_BUFFER_LIMIT_BYTES"], default: "64MiB",
    short: "bytes of pushes held while Redis is away",
    meaning: "bytes of pushes held, in flight to Redis included (oldest dropped): an item carries a whole message's content",
  },
  {
    group: 'basic', names: ["IMR_ALLOW"], default: "unset (any)",
    short: "addresses that may link (IPs, CIDR ranges)",
    meaning: "addresses that may link: IPs and CIDR ranges, `10.0.0.5,10.1.0.0/16`; others are refused (`imr_links_refused_total`). Works with GoBelieve's own access servers too",
  },
  {
    group: 'basic', names: ["IMR_SECRET"], default: "unset",
    short: "links must present it first (IM_ROUTE_SECRET)",
    meaning: "links must open with `LINK_AUTH` (cmd 139, this project's own) carrying this secret within 10 s, else they are closed; set the same `IM_ROUTE_SECRET` on this project's access servers. Off by default: GoBelieve's access servers do not send it",
  },
  {
    group: 'limits', names: ["IMR_LINK_MAX_SUBSCRIPTIONS"], default: "2000000",
    short: "users + rooms one link may subscribe",
    meaning: "users + rooms one link may subscribe; more are refused (`imr_subscriptions_refused_total`)",
  },
  {
    group: 'basic', names: ["IMR_LOG_LEVEL", "IMR_LOG_FORMAT"], default: "`info`, `pretty` on a terminal else `json`",
    short: "pino log level; JSON or human-readable lines",
    meaning: "pino level; `json` makes every stdout line a JSON record",
  },
];

export type Program = 'im' | 'imr';

export const variablesOf = (program: Program): readonly Variable[] => (program === 'im' ? IM_VARIABLES : IMR_VARIABLES);

/** Edits between two names: a typo is one or two. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Variables in `env` with the program's prefix that it does not know (a typo such as
 * IM_PROT is otherwise silently ignored), each with the known name nearest to it.
 */
export function unknownVariables(env: Record<string, string | undefined>, program: Program): { name: string; nearest: string | undefined }[] {
  const prefix = program === 'im' ? 'IM_' : 'IMR_';
  const known = variablesOf(program).flatMap((v) => v.names);
  return Object.keys(env)
    .filter((k) => k.startsWith(prefix) && !known.includes(k))
    .sort()
    .map((name) => {
      let nearest: string | undefined;
      let best = Infinity;
      for (const k of known) {
        const d = distance(name, k);
        if (d < best) [best, nearest] = [d, k];
      }
      return { name, nearest: best <= Math.max(2, Math.floor(name.length / 4)) ? nearest : undefined };
    });
}

const GROUP_TITLES: Record<Group, string> = {
  basic: 'What every deployment sets',
  limits: 'Limits: what one client, link or request may hold or take (defaults measured in bench/RESULTS.md)',
  advanced: 'Advanced',
};

/** The README's tables of a program's variables, one per group. */
export function markdownTable(program: Program): string {
  const out: string[] = [];
  for (const g of ['basic', 'limits', 'advanced'] as Group[]) {
    const rows = variablesOf(program).filter((v) => v.group === g)
      .map((v) => `| ${v.names.map((n) => `\`${n}\``).join(', ')} | ${v.default} | ${v.meaning} |`);
    if (rows.length === 0) continue;
    out.push(`${out.length === 0 ? '' : '\n'}**${GROUP_TITLES[g]}**\n`, '| variable | default | meaning |', '|---|---|---|', ...rows);
  }
  return out.join('\n');
}
