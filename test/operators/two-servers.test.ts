/**
 * Two access servers on one host, as an operator starts them from two configurations that
 * differ only in the client and HTTP ports: both run. A dashboard port left to its default
 * is taken best effort; every start-up problem is reported in one attempt.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DASHBOARD_PORT } from '../../src/config/server.ts';
import { freePort, startProcess, type Started } from '../helpers/process.ts';
import { SECRET, login, type Im } from '../helpers/im.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

/** A listener on `port` (or, when something else holds it already, nothing: it is busy either way). */
async function hold(port: number): Promise<net.Server | undefined> {
  const s = net.createServer().listen(port, '127.0.0.1');
  try {
    await once(s, 'listening');
    return s;
  } catch {
    return undefined;
  }
}

async function server(env: Record<string, string>): Promise<Started> {
  return startProcess('src/server/main.ts', {
    IM_HOST: '127.0.0.1', IM_SHARDS: '1', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn', IM_LOG_FORMAT: 'json',
    IM_PORT: String(await freePort()), IM_WS_PORT: String(await freePort()), IM_HTTP_PORT: String(await freePort()), ...env,
  });
}

test('two servers with their own client and HTTP ports on one shared store: both serve; each default dashboard port that is taken gives one warning; each says the shared store links nothing live', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-two-'));
  const shared = { IM_STORE_DB: join(dir, 'messages.db'), IM_STORE_SHARED: '1', IM_GROUP_DB: join(dir, 'groups.db') };
  const taken = await hold(DASHBOARD_PORT);
  const servers: Started[] = [];
  try {
    for (let i = 0; i < 2; i++) servers.push(await server(shared));
    const dashboards = new Set<number>();
    for (const s of servers) {
      const warnings = s.lines.filter((l) => l.includes(`default port ${DASHBOARD_PORT} is taken`));
      assert.is(warnings.length, 1, s.lines.join('\n'));
      assert.ok(s.lines.some((l) => l.includes('IM_STORE_SHARED=1 without IM_ROUTE_ADDRS')), 'the shared store without routers is named');
      const port = s.ready.dashboard as number;
      assert.ok(port > 0 && port !== DASHBOARD_PORT);
      dashboards.add(port);
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.is(page.status, 200);
      await page.text();
      const c = await login({ port: s.ready.tcp } as Im, 7, 1);
      await c.ping();
      c.destroy();
    }
    assert.is(dashboards.size, 2);
  } finally {
    for (const s of servers) assert.is(await s.stop(), 0);
    taken?.close();
  }
});

test('every start-up problem in one attempt: a held store file, a busy client port and a busy dashboard port that was asked for: three lines, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-two-'));
  const db = join(dir, 'messages.db');
  const first = await server({ IM_STORE_DB: db, IM_GROUP_DB: join(dir, 'groups.db') });
  const busy = net.createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const port = String((busy.address() as net.AddressInfo).port);
  try {
    const env = {
      ...process.env, IM_HOST: '127.0.0.1', IM_SHARDS: '1', IM_JWT_SECRET: SECRET, IM_STORE_DB: db, IM_GROUP_DB: join(dir, 'groups2.db'),
      IM_PORT: port, IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_DASHBOARD_PORT: port,
    };
    const r = await run(process.execPath, ['src/server/main.ts'], { cwd: root, env, timeout: 30_000 })
      .then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.ok(r !== undefined, 'it must not start');
    assert.is(r!.code, 2);
    const lines = r!.stderr.split('\n').filter((l) => l.startsWith('im: '));
    assert.is(lines.length, 3, r!.stderr);
    assert.match(lines[0]!, /IM_STORE_DB=.* is in use by another access server/);
    assert.match(lines[1]!, new RegExp(`IM_PORT: port ${port} is already in use`));
    assert.match(lines[2]!, new RegExp(`IM_DASHBOARD_PORT: port ${port} is already in use`));
  } finally {
    busy.close();
    assert.is(await first.stop(), 0);
  }
});

test('a server that shares the store file beside one that holds it alone: one line that says so, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-two-'));
  const db = join(dir, 'messages.db');
  const first = await server({ IM_STORE_DB: db, IM_GROUP_DB: join(dir, 'groups.db') });
  try {
    const env = {
      ...process.env, IM_HOST: '127.0.0.1', IM_SHARDS: '1', IM_JWT_SECRET: SECRET, IM_STORE_DB: db, IM_STORE_SHARED: '1', IM_GROUP_DB: join(dir, 'groups2.db'),
      IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_DASHBOARD_PORT: '0',
    };
    const r = await run(process.execPath, ['src/server/main.ts'], { cwd: root, env, timeout: 30_000 })
      .then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.ok(r !== undefined, 'it must not start');
    assert.is(r!.code, 2);
    const lines = r!.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.is(lines.length, 1, r!.stderr);
    assert.match(lines[0]!, /^im: IM_STORE_DB=.* is held by an access server that does not share it .*IM_STORE_SHARED=1/);
  } finally {
    assert.is(await first.stop(), 0);
  }
});

test.run();
