/**
 * `npm run imr`: the router process. Configuration from the environment (README), printed at
 * start-up; a bad value stops it with a message naming the variable.
 */
import type http from 'node:http';
import { answerFlags } from '../config/help.ts';
import { loadConfigOrExit } from '../config/load.ts';
import { routerConfig } from '../config/router.ts';
import { createLogger, logReady } from '../log/logger.ts';
import { reportConfig, warnPlaceholderSecrets, warnUnknownVariables } from '../log/config-report.ts';
import { startRouterHttp } from './http.ts';
import { LogPushSink, RedisPushSink } from '../push/push.ts';
import { Router } from './router.ts';
import { ListenError } from '../http/listen.ts';

if (answerFlags(process.argv.slice(2), 'imr')) process.exit(0);

const loaded = loadConfigOrExit('imr', routerConfig);
const config = loaded.config;

const log = createLogger('imr', config.logLevel, config.logPretty);
warnUnknownVariables(log, 'imr');
const shown = { ...config, allow: config.allow?.rules, secret: config.secret === undefined ? undefined : '(set)' };
reportConfig(log, 'imr', config.logPretty, shown, loaded);
warnPlaceholderSecrets(log, { IMR_SECRET: config.secret });
if (config.host !== '127.0.0.1' && config.host !== '::1' && config.host !== 'localhost') {
  log.warn({ host: config.host }, 'the router has no authentication: expose it only on a private network');
}

const push = config.redisUrl !== undefined
  ? new RedisPushSink(config.redisUrl, config.pushBufferLimit, config.pushBufferLimitBytes, log)
  : new LogPushSink(log);
const router = new Router(config, log, push);
let port: number;
let httpServer: http.Server;
try {
  port = await router.listen();
  httpServer = await startRouterHttp(router, config.host, config.httpPort, log);
} catch (err) {
  if (!(err instanceof ListenError)) throw err;
  process.stderr.write(`imr: ${err.message}\n`);
  process.exit(2);
}
const httpPort = (httpServer.address() as { port: number }).port;
// Before the ready line: whoever waits for it may signal at once.
let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) process.exit(1);
  stopping = true;
  log.info({ signal }, 'shutting down');
  httpServer.close();
  await router.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
logReady(log, { port, httpPort, host: config.host, redis: config.redisUrl !== undefined });

