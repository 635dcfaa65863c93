/** GoBelieve's TOML configuration keys → this project's variables, and their precedence. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromGoBelieve, mysqlUrlFromDsn } from '../../src/config/gobelieve.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/config/env.ts';
import { routerConfig } from '../../src/config/router.ts';

test('Go MySQL DSNs become mysql:// URLs', () => {
  assert.is(mysqlUrlFromDsn('root:123456@tcp(127.0.0.1:3306)/gobelieve'), 'mysql://root:123456@127.0.0.1:3306/gobelieve');
  assert.is(mysqlUrlFromDsn('im:p@ss/w@tcp(db.local:3307)/im?charset=utf8mb4'), 'mysql://im:p%40ss%2Fw@db.local:3307/im');
  assert.is(mysqlUrlFromDsn('root@/gobelieve'), 'mysql://root@127.0.0.1:3306/gobelieve');
  assert.is(mysqlUrlFromDsn('gobelieve'), undefined);
  assert.is(mysqlUrlFromDsn('root@unix(/run/mysqld.sock)/gobelieve'), undefined);
});

test('the access server\'s keys, TOML and the older names', () => {
  const s = fromGoBelieve('im', 'im.cfg', {
    port: 23000, ssl_port: 24430, cert_file: 'c.pem', key_file: 'k.pem', wss_address: '10.0.0.5:14891',
    route_pool: '10.0.0.1:4444 10.0.0.2:4444', group_route_addrs: ['10.0.0.3:4444'],
    redis_address: '10.0.0.9:6379', redis_password: 'p w', redis_db: 2, auth_method: 'jwt', jwt_signing_key: 'k',
    log_level: 'debug', word_file: 'words.txt', enable_friendship: false,
  });
  assert.equal(s.env, {
    IM_PORT: '23000', IM_TLS_PORT: '24430', IM_WSS_PORT: '14891', IM_WSS_HOST: '10.0.0.5', IM_TLS_CERT: 'c.pem', IM_TLS_KEY: 'k.pem',
    IM_ROUTE_ADDRS: '10.0.0.1:4444,10.0.0.2:4444', IM_GROUP_ROUTE_ADDRS: '10.0.0.3:4444',
    IM_REDIS_URL: 'redis://:p%20w@10.0.0.9:6379/2', IM_AUTH: 'jwt', IM_JWT_SECRET: 'k', IM_LOG_LEVEL: 'debug',
  });
  assert.is(s.from.IM_ROUTE_ADDRS, 'route_pool');
  assert.equal(s.ignored, ['word_file, enable_friendship']);
});

test('no Redis and no auth_method: the default stays; the API on every interface when the address has no host', () => {
  const s = fromGoBelieve('im', 'im.cfg', { http_listen_address: ':6666', ws_address: '' });
  assert.equal(s.env, { IM_HTTP_HOST: '0.0.0.0', IM_HTTP_PORT: '6666' });
});

test('ws_address with a host binds the WebSocket listener there alone; without one it follows IM_HOST', () => {
  assert.equal(fromGoBelieve('im', 'im.cfg', { ws_address: '127.0.0.1:14200' }).env, { IM_WS_PORT: '14200', IM_WS_HOST: '127.0.0.1' });
  assert.equal(fromGoBelieve('im', 'im.cfg', { ws_address: ':14200' }).env, { IM_WS_PORT: '14200' });
});

test('the router\'s keys; push_disabled leaves Redis out', () => {
  assert.equal(fromGoBelieve('imr', 'imr.cfg', { listen: ':4444', redis: { host: 'r:6379', password: '', db: 0 } }).env,
    { IMR_HOST: '0.0.0.0', IMR_PORT: '4444', IMR_REDIS_URL: 'redis://r:6379/0' });
  const off = fromGoBelieve('imr', 'imr.cfg', { listen: '127.0.0.1:4444', push_disabled: true, redis: { address: 'r:6379' } });
  assert.equal(off.env, { IMR_HOST: '127.0.0.1', IMR_PORT: '4444' });
  assert.equal(off.ignored, []);
});

test('loadConfig: the environment over the file over the defaults; an empty variable does not count', async () => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'imr.cfg');
  writeFileSync(file, 'listen=":4555"\nhttp_listen_address=":4556"\n[log]\nlevel="warn"\n');
  const r = loadConfig('imr', [file], { IMR_PORT: '4666', IMR_LOG_LEVEL: '  ', IMR_LINK_WRITE_LIMIT: '1MiB', PATH: '/bin' }, routerConfig);
  assert.is(r.config.port, 4666);
  assert.is(r.config.httpPort, 4556);
  assert.is(r.config.logLevel, 'warn');
  assert.is(r.config.linkWriteLimit, 1024 * 1024);
  assert.is(r.config.pushBufferLimit, 100_000);
  assert.equal(r.sources, {
    IMR_HOST: 'imr.cfg: listen', IMR_PORT: 'environment (over imr.cfg: listen)', IMR_HTTP_PORT: 'imr.cfg: http_listen_address',
    IMR_LOG_LEVEL: 'imr.cfg: log.level', IMR_LINK_WRITE_LIMIT: 'environment',
  });
  const none = loadConfig('imr', [], { IMR_PORT: '1' }, routerConfig);
  assert.equal([none.file, none.ignored, none.sources], [undefined, [], { IMR_PORT: 'environment' }]);
  assert.throws(() => loadConfig('imr', [file, file], {}, routerConfig), (e: unknown) => e instanceof ConfigError && /one configuration file at most/.test(e.message));
  assert.throws(() => loadConfig('imr', ['--config'], {}, routerConfig), (e: unknown) => e instanceof ConfigError && /needs a file/.test(e.message));
});

test.run();
