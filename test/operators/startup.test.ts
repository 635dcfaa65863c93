/**
 * Start-up that says what is wrong, in one line naming the variable, with exit code 2; a
 * standalone server that keeps its secret so tokens can be issued for it; JSON logs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImClient } from '../../src/client/index.ts';
import { startProcess } from '../helpers/process.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'im-startup-'));

async function fails(entry: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const r = await run(process.execPath, [entry], { cwd: root, env: { ...process.env, ...env }, timeout: 30_000 })
    .then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.ok(r !== undefined, `${entry} must not start with ${JSON.stringify(env)}`);
  return r!;
}

const base = { IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_SHARDS: '1', IM_STORE: 'off', IM_JWT_SECRET: 'x'.repeat(32), IM_HOST: '127.0.0.1' };

test('busy ports and bad addresses: one line naming the variable, exit 2', async () => {
  const busy = net.createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const port = String((busy.address() as net.AddressInfo).port);
  try {
    for (const [entry, env, variable] of [
      ['src/server/main.ts', { ...base, IM_PORT: port }, 'IM_PORT'],
      ['src/server/main.ts', { ...base, IM_WS_PORT: port }, 'IM_WS_PORT'],
      ['src/server/main.ts', { ...base, IM_HTTP_PORT: port }, 'IM_HTTP_PORT'],
      ['src/router/main.ts', { IMR_PORT: port, IMR_HTTP_PORT: '0' }, 'IMR_PORT'],
      ['src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: port }, 'IMR_HTTP_PORT'],
    ] as const) {
      const r = await fails(entry, env);
      assert.is(r.code, 2, `${variable}: exit 2`);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('im: ') || l.startsWith('imr: '));
      assert.is(lines.length, 1, `one line for ${variable}: ${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`${variable}: port ${port} is already in use`));
    }
    const host = await fails('src/server/main.ts', { ...base, IM_HOST: '192.0.2.1' });
    assert.is(host.code, 2);
    assert.match(host.stderr, /IM_PORT: cannot listen on 192\.0\.2\.1 \(IM_HOST\)/);
  } finally {
    busy.close();
  }
});

test('TLS files that are not a PEM pair: one line naming the variable, exit 2', async () => {
  const junk = join(dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate');
  const r = await fails('src/server/main.ts', { ...base, IM_TLS_PORT: '0', IM_TLS_CERT: junk, IM_TLS_KEY: junk });
  assert.is(r.code, 2);
  assert.match(r.stderr, /im: IM_TLS_(CERT|KEY): not a usable PEM certificate and key/);
});

test('--help lists the variables with their defaults; --version prints the version', async () => {
  const help = await run(process.execPath, ['src/server/main.ts', '--help'], { cwd: root });
  assert.match(help.stdout, /IM_PORT\s+23000/);
  assert.match(help.stdout, /IM_STORE\s+sqlite/);
  const version = await run(process.execPath, ['src/router/main.ts', '--version'], { cwd: root });
  assert.match(version.stdout, /^imr \d+\.\d+\.\d+\n$/);
});

test('standalone without IM_JWT_SECRET: the secret is kept (0600), npm run token issues tokens the server accepts; JSON logs only on stdout', async () => {
  const file = join(dir, 'jwt-secret');
  const im = await startProcess('src/server/main.ts', { ...base, IM_JWT_SECRET: '', IM_JWT_SECRET_FILE: file, IM_LOG_FORMAT: 'json', IM_LOG_LEVEL: 'INFO' });
  try {
    assert.is(statSync(file).mode & 0o777, 0o600);
    const { stdout } = await run(process.execPath, ['src/server/token.ts', '7', '2'], { cwd: root, env: { ...process.env, IM_JWT_SECRET: '', IM_JWT_SECRET_FILE: file } });
    const c = await ImClient.connect({ port: im.ready.tcp as number });
    assert.is(await c.auth({ token: stdout.trim() }), 0, 'a token for uid 2, issued while the server runs');
    assert.is(c.uid, 2);
    c.destroy();
    assert.ok(im.lines.length > 0);
    for (const line of im.lines) assert.not.throws(() => JSON.parse(line), `stdout line is JSON: ${line}`);
    assert.ok(im.lines.some((l) => JSON.parse(l).msg === 'configuration'), 'the configuration is a log record');
    assert.ok(im.lines.some((l) => typeof JSON.parse(l).token === 'string'), 'so is the sample token');
  } finally {
    await im.stop();
  }
  const again = await startProcess('src/server/main.ts', { ...base, IM_JWT_SECRET: '', IM_JWT_SECRET_FILE: file, IM_LOG_FORMAT: 'json' });
  try {
    const { stdout } = await run(process.execPath, ['src/server/token.ts', '7', '3'], { cwd: root, env: { ...process.env, IM_JWT_SECRET: '', IM_JWT_SECRET_FILE: file } });
    const c = await ImClient.connect({ port: again.ready.tcp as number });
    assert.is(await c.auth({ token: stdout.trim() }), 0, 'the kept secret survives a restart');
    c.destroy();
  } finally {
    await again.stop();
  }
});

test('IM_AUTH=redis with Redis down: the server starts, /healthz says not ready, logins get AUTH_STATUS 1, one line names IM_REDIS_URL', async () => {
  const closed = net.createServer().listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as net.AddressInfo).port;
  closed.close(); // nothing listens there now
  const im = await startProcess('src/server/main.ts', { ...base, IM_AUTH: 'redis', IM_REDIS_URL: `redis://127.0.0.1:${port}`, IM_LOG_LEVEL: 'warn', IM_LOG_FORMAT: 'json' });
  try {
    const h = await fetch(`http://127.0.0.1:${im.ready.http}/healthz`);
    assert.is(h.status, 503);
    assert.is(((await h.json()) as { redis: boolean }).redis, false);
    for (let i = 0; i < 3; i++) {
      const c = await ImClient.connect({ port: im.ready.tcp as number });
      assert.is(await c.auth({ token: 'any' }), 1);
      c.destroy();
    }
    const named = im.lines.filter((l) => l.includes('IM_REDIS_URL'));
    assert.ok(named.length >= 1 && named.length <= 3, `one clear line (per kind of use), not one per retry: ${named.length}`);
  } finally {
    await im.stop();
  }
});

test.run();
