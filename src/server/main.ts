/**
 * `npm start`: the access server. Main thread: configuration, the shard workers, the client
 * listeners and the HTTP API. Configuration comes from the environment (README) and is
 * printed at start-up; a bad value stops start-up with a message naming the variable.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, describe } from '../config/env.ts';
import { serverConfig, type ServerConfig } from '../config/server.ts';
import { createLogger, logReady } from '../log/logger.ts';
import { signToken } from '../auth/jwt.ts';
import { SubscriberTable } from '../subscribers/index.ts';
import { ShardPool } from './shard-pool.ts';
import { Acceptors } from './acceptors.ts';
import { startApi } from './http-api.ts';
import { GroupService, createGroupSource } from '../groups/service.ts';

let config: ServerConfig;
try {
  config = serverConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`im: ${err.message}\n`);
  process.exit(2);
}

const log = createLogger('im', config.logLevel, config.logPretty);
let sampleToken: string | undefined;
if (config.auth === 'jwt' && config.jwtSecret === undefined) {
  config.jwtSecret = randomBytes(32).toString('base64url');
  sampleToken = await signToken(config.jwtSecret, 7, 1);
}
process.stderr.write(`im configuration:\n${describe({ ...config, tlsCert: config.tlsCert && '(set)', tlsKey: config.tlsKey && '(set)' }, ['jwtSecret', 'httpToken', 'routeSecret'])}\n`);
if (sampleToken !== undefined) {
  process.stderr.write(
    'IM_JWT_SECRET is not set: a secret was generated for this run only.\n' +
    `A token for appid 7, uid 1 (valid 30 days with this run's secret):\n  ${sampleToken}\n` +
    'Set IM_JWT_SECRET and use `npm run token -- APPID UID` to issue lasting tokens.\n');
}

if (config.store === 'off') {
  log.warn('IM_STORE=off: no message store; messages to offline users are lost and SYNC answers empty');
} else if (config.store === 'sqlite' && config.routeAddrs.length > 0) {
  log.warn({ file: config.storeDb },
    'IM_ROUTE_ADDRS is set but the message store is this server\'s own SQLite file: a message saved here cannot be synced '
    + 'from another access server. Linked servers must share one store: set IM_STORE_URL=postgres://…');
}
if (config.httpToken === undefined && !['127.0.0.1', '::1', 'localhost'].includes(config.httpHost)) {
  log.warn({ host: config.httpHost, port: config.httpPort },
    'the HTTP API listens beyond loopback without IM_HTTP_TOKEN: anyone who reaches it can read online users and messages and post as any user');
}
const table = SubscriberTable.create(config.subscriberCapacity);
const groupSource = createGroupSource(config);
const groups = new GroupService(groupSource, (appid, gid) => pool.invalidateGroup(appid, gid), log);
const pool = new ShardPool(config, table, { loadGroup: (appid, gid) => groups.load(appid, gid) }, log);
if (config.redisUrl !== undefined) await groups.listen(config.redisUrl);
await pool.ready();
const acceptors = new Acceptors(pool);
const ports = await acceptors.listen(config);
const api = await startApi({ pool, table, groups, log, token: config.httpToken, testHooks: config.testHooks, syncLimit: config.syncLimit }, config.httpHost, config.httpPort);
const httpPort = (api.address() as { port: number }).port;
logReady(log, { ...ports, http: httpPort, shards: config.shards, routers: config.routeAddrs.length });

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
  const left = await pool.drain(config.shutdownTimeoutS * 1000);
  log.info({ left: left.reduce((a, b) => a + b, 0) }, 'connections closed');
  await pool.terminate();
  await groups.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
