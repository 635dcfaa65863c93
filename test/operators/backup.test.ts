import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startIm } from '../helpers/im.ts';
import { builtEntry, httpJson } from '../helpers/process.ts';
import { ImClient } from '../../src/client/index.ts';
import { signToken } from '../../src/auth/jwt.ts';

const APP = 41;

async function as(port: number, secret: string, uid: number): Promise<ImClient> {
  const c = await ImClient.connect({ port, uid });
  assert.is(await c.auth({ token: await signToken(secret, APP, uid), deviceId: `d${uid}` }), 0);
  return c;
}
const backupTool = (args: string[], env: Record<string, string>) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  execFile(process.execPath, [builtEntry('src/server/backup.ts'), ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
    resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }));
});

test('bin/im-backup: the message store, the group database and the kept JWT secret, while the server runs and with none running; the copies restore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-backup-'));
  const data = { IM_STORE_DB: join(dir, 'messages.db'), IM_GROUP_DB: join(dir, 'groups.db'), IM_JWT_SECRET: '', IM_JWT_SECRET_FILE: join(dir, 'jwt-secret') };
  const token = 'backup-admin-token';
  const im = await startIm({ ...data, IM_SHARDS: '1', IM_HTTP_TOKEN: token });
  const secret = readFileSync(data.IM_JWT_SECRET_FILE, 'utf8').trim();
  const env = { ...data, IM_HTTP_PORT: String(im.httpPort), IM_HTTP_TOKEN: token };
  let gid: number;
  try {
    const created = await httpJson(im.httpPort, '/create_group', {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ appid: APP, master: 1, name: 'kept', members: [1, 2] }),
    });
    assert.is(created.status, 200, JSON.stringify(created.body));
    gid = created.body.data.group_id as number;
    const a = await as(im.port, secret, 1);
    for (let i = 0; i < 50; i++) assert.is((await a.sendIM({ receiver: 2, content: `m${i}` })).status, 0);
    a.destroy();
    const live = await backupTool([join(dir, 'live')], env);
    assert.is(live.code, 0, live.stderr);
    assert.match(live.stdout, /messages\.db \(\d+ pages, by the running server\), groups\.db \(\d+ pages\), jwt-secret/);
    assert.is(statSync(join(dir, 'live')).mode & 0o777, 0o700);
    for (const f of ['messages.db', 'groups.db', 'jwt-secret']) assert.is(statSync(join(dir, 'live', f)).mode & 0o777, 0o600, f);
    const again = await backupTool([join(dir, 'live')], env);
    assert.is(again.code, 2);
    assert.match(again.stderr, /exists: a backup goes to a new directory/);
  } finally {
    assert.is(await im.stop(), 0);
  }
  const offline = await backupTool([join(dir, 'offline')], { ...env, IM_HTTP_PORT: '1' });
  assert.is(offline.code, 0, offline.stderr);
  assert.match(offline.stdout, /no server running/);
  for (const copy of ['live', 'offline']) {
    const c = new DatabaseSync(join(dir, copy, 'messages.db'));
    assert.equal(c.prepare('PRAGMA integrity_check').all().map((r) => r.integrity_check), ['ok']);
    assert.is(Number(c.prepare('SELECT count(*) AS n FROM entries WHERE owner = 2').get()!.n), 50);
    // Each IM's two copies (receiver's, sender's) refer to one body.
    assert.is(Number(c.prepare('SELECT count(*) AS n FROM bodies').get()!.n), 50);
    c.close();
    assert.is(readFileSync(join(dir, copy, 'jwt-secret'), 'utf8').trim(), secret);
  }
  // Restore: a server started on the copies has the messages and the group, and takes the old tokens.
  const live = join(dir, 'live');
  const restored = await startIm({ IM_STORE_DB: join(live, 'messages.db'), IM_GROUP_DB: join(live, 'groups.db'), IM_JWT_SECRET: '', IM_JWT_SECRET_FILE: join(live, 'jwt-secret'), IM_SHARDS: '1' });
  try {
    const b = await as(restored.port, secret, 2);
    assert.is((await b.sync(0)).messages.length, 50);
    assert.is((await b.sendGroupIM({ receiver: gid!, content: 'still a member' })).status, 0);
    b.destroy();
  } finally {
    assert.is(await restored.stop(), 0);
  }
  const pg = await backupTool([join(dir, 'pg')], { IM_STORE: 'postgres', IM_STORE_URL: 'postgres://im:pw@127.0.0.1:1/im', IM_GROUP_DB: join(dir, 'none.db'), IM_JWT_SECRET: 'x'.repeat(32) });
  assert.is(pg.code, 2);
  assert.match(pg.stderr, /nothing embedded to back up: the message store is PostgreSQL: back it up with pg_dump/);
  assert.not.ok(existsSync(join(dir, 'pg')), 'no directory left behind');
});

test('bin/im-backup --help prints its usage and exits 0', async () => {
  const r = await backupTool(['--help'], {});
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: im-backup DIR/);
});

test.run();
