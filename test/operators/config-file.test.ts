/**
 * GoBelieve's configuration files as operators have them: an im.cfg and an imr.cfg written with
 * the reference's keys start a working pair (Redis logins, the router linking two access
 * servers); the environment overrides the file; unused keys are named in one warning; a file
 * that is not TOML or a bad value stops start-up with one line naming the file and the key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { ImClient } from '../../src/client/index.ts';
import { eventually, freePort, httpJson, startProcess, type Started } from '../helpers/process.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'im-cfg-'));
const quiet = { IM_STORE: 'off', IM_SHARDS: '1', IM_LOG_LEVEL: 'info', IM_HOST: '127.0.0.1' };

let redis: RedisServer;
let imr: Started;
const started: Started[] = [];

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** An im.cfg as GoBelieve's sample writes it (no auth_method: GoBelieve's default, Redis logins). */
function imCfg(port: number, routerPort: number): string {
  return `#listen port
port=${port}
storage_rpc_addrs=["127.0.0.1:13333"]
route_addrs=["127.0.0.1:${routerPort}"]
ws_address=":0"
cert_file="fullchain1.pem"
key_file="privkey1.pem"
http_listen_address="127.0.0.1:0"
rpc_listen_address=":6665"
pending_root="/tmp/pending"
kefu_appid=0

[redis]
address="127.0.0.1:${redis.port}"
password=""
db=0

[log]
filename="im.log"
level="info"
backup=3
caller=true
`;
}

function configRecord(p: Started): { config: Record<string, unknown>; sources: Record<string, string> } {
  const line = p.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((j) => j.msg === 'configuration');
  assert.ok(line, 'a configuration record');
  return line as never;
}

test.before(async () => {
  redis = await startRedis();
  const [routerPort, routerHttp] = [await freePort(), await freePort()];
  const cfg = write('imr.cfg', `listen=":${routerPort}"\nhttp_listen_address=":${routerHttp}"\n\n[redis]\naddress="127.0.0.1:${redis.port}"\npassword=""\ndb=0\n`);
  imr = await startProcess('src/router/main.ts', { IMR_LOG_LEVEL: 'info' }, 15_000, ['--config', cfg]);
});

test.after(async () => {
  for (const p of started) await p.stop();
  await imr?.stop();
  await redis?.stop();
});

test('im.cfg and imr.cfg with GoBelieve\'s keys start a working pair; the environment overrides the file', async () => {
  assert.is(imr.ready.port, Number(JSON.parse(JSON.stringify(configRecord(imr).config)).port));
  assert.equal(configRecord(imr).sources, {
    IMR_HOST: 'imr.cfg: listen', IMR_PORT: 'imr.cfg: listen', IMR_HTTP_PORT: 'imr.cfg: http_listen_address',
    IMR_LOG_LEVEL: 'environment', IMR_REDIS_URL: 'imr.cfg: redis.address',
  });
  const routerPort = imr.ready.port as number;
  const [a, b, overridden] = [await freePort(), await freePort(), await freePort()];
  // Server A: the file as GoBelieve's `im im.cfg` takes it; server B: `--config`, its port overridden.
  const imA = await startProcess('src/server/main.ts', quiet, 15_000, [write('a.cfg', imCfg(a, routerPort))]);
  started.push(imA);
  const imB = await startProcess('src/server/main.ts', { ...quiet, IM_PORT: String(overridden) }, 15_000, ['--config', write('b.cfg', imCfg(b, routerPort))]);
  started.push(imB);
  assert.is(imA.ready.tcp, a);
  assert.is(imB.ready.tcp, overridden, 'IM_PORT in the environment wins over the file\'s port');
  const { config, sources } = configRecord(imB);
  assert.is(sources.IM_PORT, 'environment (over b.cfg: port)');
  assert.is(sources.IM_ROUTE_ADDRS, 'b.cfg: route_addrs');
  assert.is(sources.IM_AUTH, 'b.cfg: no auth_method, so GoBelieve\'s default: redis');
  assert.is(config.redisUrl, `redis://127.0.0.1:${redis.port}/0`);
  assert.is(config.tlsPort, undefined, 'no ssl_port or wss_address: the certificate files are not loaded, as in GoBelieve');

  const warnings = imB.lines.map((l) => JSON.parse(l) as { level: number; msg: string; ignored?: string[] }).filter((j) => j.ignored !== undefined);
  assert.is(warnings.length, 1, 'one warning for the keys not used');
  for (const key of ['rpc_listen_address', 'storage_rpc_addrs', 'pending_root', 'log.filename', 'log.backup', 'log.caller']) {
    assert.ok(warnings[0]!.msg.includes(key), `${key} is named: ${warnings[0]!.msg}`);
  }
  assert.not.ok(/\bport\b|route_addrs|redis\.address|log\.level/.test(warnings[0]!.ignored!.join(' ')), 'keys that are used are not named');

  await redis.client.hset('access_token_cfg-1', { user_id: '1', app_id: '9' });
  await redis.client.hset('access_token_cfg-2', { user_id: '2', app_id: '9' });
  const one = await ImClient.connect({ port: a, uid: 1 });
  const two = await ImClient.connect({ port: overridden, uid: 2 });
  assert.equal([await one.auth({ token: 'cfg-1' }), await two.auth({ token: 'cfg-2' })], [0, 0]);
  await eventually(async () => (await httpJson(imr.ready.httpPort as number, '/all_online')).body.flatMap((x: { users: number[] }) => x.users).length === 2,
    5000, 'both users subscribed at the router');
  const got = two.next('im');
  await one.sendIM({ receiver: 2, content: 'across servers, configured by files' });
  assert.is((await got)[0].content.toString(), 'across servers, configured by files');
  await one.close();
  await two.close();
});

async function refused(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(process.execPath, ['src/server/main.ts', ...args], { cwd: root, env: { ...process.env, ...quiet, ...env }, timeout: 30_000 })
    .then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.ok(r !== undefined, `must not start with ${args.join(' ')}`);
  assert.is(r!.code, 2);
  const lines = r!.stderr.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `one line: ${r!.stderr}`);
  return lines[0]!;
}

/** Whether a TCP connection to host:port is taken. */
async function accepts(host: string, port: number): Promise<boolean> {
  const s = net.connect({ host, port });
  // once() rejects on the socket's 'error': a refused connection.
  const ok = await once(s, 'connect').then(() => true, () => false);
  s.destroy();
  return ok;
}

test('ws_address with a host is honoured whole: the WebSocket listener binds that address alone, never wider', async () => {
  const [tcp, ws] = [await freePort(), await freePort()];
  const file = write('ws-host.cfg', `port=${tcp}\nws_address="127.0.0.1:${ws}"\nhttp_listen_address="127.0.0.1:0"\nauth_method="jwt"\njwt_signing_key="${'k'.repeat(32)}"\n`);
  // IM_HOST left to its default (every interface, as GoBelieve binds its TCP port).
  const im = await startProcess('src/server/main.ts', { IM_STORE: 'off', IM_SHARDS: '1', IM_LOG_LEVEL: 'info' }, 15_000, ['--config', file]);
  started.push(im);
  assert.is(configRecord(im).config.wsHost, '127.0.0.1');
  assert.ok(await accepts('127.0.0.1', ws), 'the WebSocket port on the address named');
  // 127.0.0.2 is loopback too: a listener on every interface would take it.
  assert.not.ok(await accepts('127.0.0.2', ws), 'not on another address');
  assert.ok(await accepts('127.0.0.2', tcp), 'the TCP port, with no host in the file, on every interface');
});

test('a file that is not TOML, a bad value, a missing file, a stray option: one line, exit 2', async () => {
  const old = write('old.cfg', 'port=23000\nroute_pool=127.0.0.1:4444\n');
  assert.match(await refused([old]), /^im: \S*old\.cfg:2: not valid TOML .*route_pool=127\.0\.0\.1:4444; the file is TOML: quote string values/);
  assert.match(await refused([write('port.cfg', 'port="twenty"\n')]), /^im: port\.cfg: port \(IM_PORT\): must be an integer, got "twenty"$/);
  assert.match(await refused([write('ws.cfg', 'ws_address="13891"\n')]), /^im: ws\.cfg: ws_address: must be an address such as ":13891"/);
  assert.match(await refused([write('dsn.cfg', 'mysqldb_datasource="gobelieve"\n')]), /^im: dsn\.cfg: mysqldb_datasource: must be a DSN/);
  assert.match(await refused(['--config', join(dir, 'missing.cfg')]), /^im: --config: cannot read .*missing\.cfg: ENOENT$/);
  assert.match(await refused(['--confg', 'x.cfg']), /^im: --confg: unknown option/);
  // The environment's own bad value is still named as the environment's.
  assert.match(await refused([write('ok.cfg', 'port=23000\n')], { IM_PORT: 'x' }), /^im: IM_PORT: must be an integer/);
});

test.run();
