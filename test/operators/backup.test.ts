import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { login, startIm } from '../helpers/im.ts';
import { builtEntry } from '../helpers/process.ts';

const APP = 41;
const backupTool = (args: string[], env: Record<string, string>) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  execFile(process.execPath, [builtEntry('src/server/backup.ts'), ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
    resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }));
});

test('bin/im-backup: a consistent copy while the server runs (it asks the server), and from the file when none runs; the copy restores', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-backup-'));
  const db = join(dir, 'messages.db');
  const token = 'backup-admin-token';
  const im = await startIm({ IM_STORE_DB: db, IM_SHARDS: '1', IM_HTTP_TOKEN: token });
  const env = { IM_STORE_DB: db, IM_HTTP_PORT: String(im.httpPort), IM_HTTP_TOKEN: token };
  try {
    const a = await login(im, APP, 1);
    for (let i = 0; i < 50; i++) assert.is((await a.sendIM({ receiver: 2, content: `m${i}` })).status, 0);
    a.destroy();
    const live = await backupTool([join(dir, 'live.db')], env);
    assert.is(live.code, 0, live.stderr);
    assert.match(live.stdout, /pages, taken by the running server/);
    assert.is(statSync(join(dir, 'live.db')).mode & 0o777, 0o600);
    const again = await backupTool([join(dir, 'live.db')], env);
    assert.is(again.code, 2);
    assert.match(again.stderr, /exists: a backup goes to a new file/);
  } finally {
    assert.is(await im.stop(), 0);
  }
  const offline = await backupTool([join(dir, 'offline.db')], { ...env, IM_HTTP_PORT: '1' });
  assert.is(offline.code, 0, offline.stderr);
  assert.match(offline.stdout, /no server running/);
  for (const copy of ['live.db', 'offline.db']) {
    const c = new DatabaseSync(join(dir, copy));
    assert.equal(c.prepare('PRAGMA integrity_check').all().map((r) => r.integrity_check), ['ok']);
    assert.is(Number(c.prepare('SELECT count(*) AS n FROM entries WHERE owner = 2').get()!.n), 50);
    // Each IM's two copies (receiver's, sender's) refer to one body.
    assert.is(Number(c.prepare('SELECT count(*) AS n FROM bodies').get()!.n), 50);
    c.close();
  }
  // Restore: a server started on the copy has the messages.
  const restored = await startIm({ IM_STORE_DB: join(dir, 'live.db'), IM_SHARDS: '1' });
  try {
    const b = await login(restored, APP, 2);
    assert.is((await b.sync(0)).messages.length, 50);
    b.destroy();
  } finally {
    assert.is(await restored.stop(), 0);
  }
  const pg = await backupTool([join(dir, 'pg.db')], { IM_STORE: 'postgres', IM_STORE_URL: 'postgres://im:pw@127.0.0.1:1/im' });
  assert.is(pg.code, 2);
  assert.match(pg.stderr, /pg_dump/);
});

test.run();
