/**
 * `npm start`: the access server. Main thread: configuration, the shard workers, the client
 * listeners and the HTTP API. Configuration comes from the environment (README) and is
 * printed at start-up; a bad value stops start-up with a message naming the variable.
 */
import { answerFlags, version } from '../config/help.ts';
import { loadConfigOrExit } from '../config/load.ts';
import { linked, serverConfig } from '../config/server.ts';
import { natsLabel, shownNats } from '../config/nats.ts';
import { createLogger, logReady } from '../log/logger.ts';
import { reportConfig, warnPlaceholderSecrets, warnUnknownVariables } from '../log/config-report.ts';
import { signToken } from '../auth/jwt.ts';
import { secretFromFile } from '../auth/secret-file.ts';
import { SubscriberTable } from '../subscribers/index.ts';
import { ShardPool } from './shard-pool.ts';
import { PoolQueries } from './pool-queries.ts';
import { Acceptors } from './acceptors.ts';
import { ListenError } from '../http/listen.ts';
import { startApi, startDashboard } from './http-api.ts';
import { GroupService, createGroupSource } from '../groups/service.ts';
import { startupProblems } from './preflight.ts';
import { DependencyWatch } from './dependencies.ts';

/** How often an unreachable dependency is checked (and warned about) again. */
const DEPENDENCY_CHECK_MS = 10_000;

if (answerFlags(process.argv.slice(2), 'im')) process.exit(0);

const loaded = loadConfigOrExit('im', serverConfig);
const config = loaded.config;
/** The dashboard's port was left to its default: taken best effort (another server on this host may hold it). */
const dashboardDefault = loaded.sources.IM_DASHBOARD_PORT === undefined;
{
  // Before anything else starts (a second server on the same store file would wait for a
  // lock that is never given back): every problem at once, one line each.
  const problems = await startupProblems(config, dashboardDefault);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`im: ${p}\n`);
    process.exit(2);
  }
}

const log = createLogger('im', config.logLevel, config.logPretty);
warnUnknownVariables(log, 'im');
let sampleToken: string | undefined;
if (config.auth === 'jwt' && config.jwtSecret === undefined) {
  const { secret, created } = secretFromFile(config.jwtSecretFile);
  config.jwtSecret = secret;
  sampleToken = await signToken(secret, 7, 1);
  if (created) log.info({ file: config.jwtSecretFile }, 'IM_JWT_SECRET is not set: generated a secret and kept it in this file (mode 0600)');
}
const shown = { ...config, tlsCert: config.tlsCert && '(set)', tlsKey: config.tlsKey && '(set)', nats: config.nats && shownNats(config.nats) };
reportConfig(log, 'im', config.logPretty, shown, loaded, ['jwtSecret', 'httpToken', 'routeSecret']);
if (sampleToken !== undefined) {
  const how = `npm run -s token -- APPID UID issues tokens for any user (the secret is in ${config.jwtSecretFile})`;
  if (config.logPretty) process.stderr.write(`A token for appid 7, uid 1 (valid 30 days):\n  ${sampleToken}\n${how}\n`);
  else log.info({ appid: 7, uid: 1, token: sampleToken, how }, 'a token for appid 7, uid 1 (valid 30 days)');
}

if (config.store === 'off') {
  log.warn('IM_STORE=off: no message store; messages to offline users are lost and SYNC answers empty');
} else if (config.store === 'sqlite' && config.storeShared && !linked(config)) {
  log.warn({ file: config.storeDb },
    'IM_STORE_SHARED=1 without IM_ROUTE_ADDRS or IM_NATS_URL: the servers sharing this store sync each other\'s stored messages, '
    + 'but deliver nothing live to each other\'s users; link them through NATS (IM_NATS_URL) or routers (IM_ROUTE_ADDRS)');
} else if (config.store === 'sqlite' && linked(config) && !config.storeShared) {
  log.warn({ file: config.storeDb },
    'this server is linked to others (IM_ROUTE_ADDRS or IM_NATS_URL) but the message store is this server\'s own SQLite file: a message saved here cannot be synced '
    + 'from another access server. Linked servers must share one store: IM_STORE_URL=postgres://… (across machines), '
    + 'or IM_STORE_SHARED=1 with the same IM_STORE_DB (servers on this host)');
}
if (config.nats !== undefined && config.redisUrl === undefined) {
  log.warn('IM_NATS_URL without IM_REDIS_URL: offline pushes are counted but go nowhere. Linked through NATS, each access server '
    + 'writes them to Redis itself (push_queue and the others), as a router does with IMR_REDIS_URL');
}
warnPlaceholderSecrets(log, { IM_JWT_SECRET: config.jwtSecret, IM_HTTP_TOKEN: config.httpToken, IM_ROUTE_SECRET: config.routeSecret });
if (config.httpToken === undefined && !['127.0.0.1', '::1', 'localhost'].includes(config.httpHost)) {
  log.warn({ host: config.httpHost, port: config.httpPort },
    'the HTTP API listens beyond loopback without IM_HTTP_TOKEN: anyone who reaches it can read online users and messages and post as any user');
}
const table = SubscriberTable.create(config.subscriberCapacity);
const groupSource = createGroupSource(config);
const groups = new GroupService(groupSource, (appid, gid) => queries.invalidateGroup(appid, gid), log);
const pool = new ShardPool(config, table, { loadGroup: (appid, gid) => groups.load(appid, gid) }, log);
const queries = new PoolQueries(pool, { controlMs: config.controlTimeoutMs, storeMs: config.storeTimeoutMs });
if (config.redisUrl !== undefined) groups.listen(config.redisUrl);
await pool.ready();
if (pool.channel !== undefined) {
  const problem = await pool.channel.control.started();
  if (problem !== null) {
    process.stderr.write(`im: IM_NATS_URL (${natsLabel(config.nats!)}): ${problem}\n`);
    process.exit(2);
  }
}
const acceptors = new Acceptors(pool);
const identity = { version: version(), startedAt: Date.now(), host: config.host, listen: {} as Record<string, number> };
let ports: Awaited<ReturnType<Acceptors['listen']>>;
let api: Awaited<ReturnType<typeof startApi>>;
let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
try {
  ports = await acceptors.listen(config);
  const ctx = { pool, queries, table, groups, log, token: config.httpToken, testHooks: config.testHooks, syncLimit: config.syncLimit, maxBody: config.maxBody, identity };
  api = await startApi(ctx, config.httpHost, config.httpPort);
  if (config.dashboardPort !== undefined) {
    const chosen = config.dashboardPort;
    dashboard = await startDashboard(ctx, config.httpHost, chosen).catch((err: unknown) => {
      if (!(err instanceof ListenError) || !dashboardDefault) throw err;
      log.warn({ port: chosen }, `the dashboard's default port ${chosen} is taken (another server on this host?): it listens on a free port instead, `
        + 'named in the ready line; set IM_DASHBOARD_PORT to choose one');
      return startDashboard(ctx, config.httpHost, 0);
    });
  }
} catch (err) {
  if (!(err instanceof ListenError)) throw err;
  process.stderr.write(`im: ${err.message}\n`);
  process.exit(2);
}
const httpPort = (api.address() as { port: number }).port;
const dashboardPort = (dashboard?.address() as { port: number } | undefined)?.port;
Object.assign(identity.listen, ports, { http: httpPort });
const watch = new DependencyWatch(config, queries, groups, log);
const down = await watch.first();
watch.start(DEPENDENCY_CHECK_MS);
// Before the ready line: whoever waits for it may signal at once, and a signal with no
// handler yet would end the process without a graceful stop.
let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  log.info({ signal }, 'shutting down: no new connections, closing the open ones');
  acceptors.close();
  api.close();
  dashboard?.close();
  watch.stop();
  const left = await pool.drain(config.shutdownTimeoutS * 1000);
  log.info({ left: left.reduce((a, b) => a + b, 0) }, 'connections closed');
  await pool.terminate();
  await groups.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
logReady(log, { ...ports, http: httpPort, dashboard: dashboardPort, shards: config.shards, routers: config.routeAddrs.length, ...(config.nats !== undefined ? { nats: natsLabel(config.nats) } : {}), ...(down.length > 0 ? { down } : {}) });
if (dashboardPort !== undefined && config.logPretty) {
  const host = ['0.0.0.0', '::'].includes(config.httpHost) ? '127.0.0.1' : config.httpHost;
  process.stderr.write(`dashboard: http://${host.includes(':') ? `[${host}]` : host}:${dashboardPort}/\n`);
}


