import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { jwtVerify } from 'jose';
import { configError } from '../helpers/config-error.ts';
import { serverConfig } from '../../src/config/server.ts';
import { routerConfig } from '../../src/config/router.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;


test('defaults are the documented ones', () => {
  const c = serverConfig({});
  assert.equal([c.port, c.wsPort, c.httpPort, c.httpHost, c.auth, c.queueLimit, c.maxBody, c.clientTimeoutS], [23000, 13891, 6666, '127.0.0.1', 'jwt', 300, 32767, 360]);
  assert.ok(c.shards >= 1);
  assert.equal(c.routeAddrs, []);
  const r = routerConfig({});
  assert.equal([r.host, r.port, r.httpPort], ['127.0.0.1', 4444, 4445]);
});

test('a variable set to an empty value (or spaces) is unset: its default, as the README says', () => {
  const c = serverConfig({ IM_PORT: '', IM_HTTP_PORT: '  ', IM_QUEUE_LIMIT: '' });
  assert.equal([c.port, c.httpPort, c.queueLimit], [23000, 6666, 300]);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.match(readme, /A variable set to an empty value is unset: it takes its default\./);
});

test('a value that does not parse names its variable', () => {
  assert.is(configError(() => serverConfig({ IM_PORT: 'abc' })).variable, 'IM_PORT');
  assert.is(configError(() => serverConfig({ IM_SHARDS: '65' })).variable, 'IM_SHARDS');
  assert.is(configError(() => serverConfig({ IM_ROUTE_ADDRS: '127.0.0.1:4444,nohost' })).variable, 'IM_ROUTE_ADDRS');
  assert.is(configError(() => serverConfig({ IM_AUTH: 'ldap' })).variable, 'IM_AUTH');
  assert.is(configError(() => serverConfig({ IM_AUTH: 'redis' })).variable, 'IM_REDIS_URL');
  assert.is(configError(() => serverConfig({ IM_TLS_PORT: '443' })).variable, 'IM_TLS_CERT');
  assert.is(configError(() => serverConfig({ IM_TLS_CERT: '/no/such/file' })).variable, 'IM_TLS_CERT');
  assert.is(configError(() => routerConfig({ IMR_REDIS_URL: 'http://x' })).variable, 'IMR_REDIS_URL');
  assert.equal(serverConfig({ IM_ROUTE_ADDRS: 'a:1, [::1]:2' }).routeAddrs, [{ host: 'a', port: 1 }, { host: '::1', port: 2 }]);
});

test('a bad value stops start-up with exit code 2 and a message naming the variable', async () => {
  for (const [entry, env, name] of [['src/server/main.ts', { IM_QUEUE_LIMIT: 'lots' }, 'IM_QUEUE_LIMIT'], ['src/router/main.ts', { IMR_PORT: '-1' }, 'IMR_PORT']] as const) {
    const err = await run(process.execPath, [entry], { cwd: root, env: { ...process.env, ...env } }).then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.ok(err !== undefined, `${entry} must not start`);
    assert.is(err!.code, 2);
    assert.match(err!.stderr, name);
  }
});

test('npm run token prints a token the server accepts for that user', async () => {
  const secret = 'token-test-secret-0123456789abcdefghij';
  const { stdout } = await run(process.execPath, ['src/server/token.ts', '7', '42'], { cwd: root, env: { ...process.env, IM_JWT_SECRET: secret } });
  const { payload } = await jwtVerify(stdout.trim(), new TextEncoder().encode(secret));
  assert.equal([payload.appid, payload.uid], [7, 42]);
  const bad = await run(process.execPath, ['src/server/token.ts', 'x'], { cwd: root, env: { ...process.env, IM_JWT_SECRET: secret } }).then(() => 0, (e: { code: number }) => e.code);
  assert.is(bad, 2);
});

test.run();
