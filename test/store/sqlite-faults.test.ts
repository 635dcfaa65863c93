import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { login, startIm, type Im } from '../helpers/im.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { StoreLoad } from '../helpers/store-load.ts';

/*
 * The embedded store under faults: its thread killed (the replacement opens the same file,
 * whose lock the dead thread held), and its disk full (a small tmpfs).
 */
const APP = 32;

async function verified(im: Im, load: StoreLoad, receiver: number): Promise<void> {
  const r = await login(im, APP, receiver);
  try {
    await load.verify(r);
  } finally {
    r.destroy();
  }
}

test('the store thread killed under load: the replacement opens the same file, saving resumes, nothing acknowledged is lost', async () => {
  const im = await startIm({ IM_SHARDS: '2', IM_TEST_HOOKS: '1', IM_STORE_TIMEOUT_MS: '2000', IM_LOG_LEVEL: 'info' });
  try {
    const sender = await login(im, APP, 1, { ackTimeoutMs: 3000 });
    const load = new StoreLoad(sender, 2);
    try {
      await load.more(300, 'saving before the fault');
      assert.is((await httpJson(im.httpPort, '/debug/crash_store', { method: 'POST' })).status, 200);
      await eventually(() => im.lines.some((l) => l.includes('store restarted')), 10_000, 'the store thread replaced');
      await load.more(300, 'saving resumed');
    } finally {
      await load.stop();
      sender.destroy();
    }
    await verified(im, load, 2);
  } finally {
    assert.is(await im.stop(), 0);
  }
});

// Mounting a small tmpfs needs root: elsewhere the test is skipped, and counted as skipped.
const asRoot = userInfo().uid === 0 ? test : test.skip;
if (userInfo().uid !== 0) console.log('  (the disk-full test is skipped: mounting a small tmpfs needs root)');

asRoot('SQLite out of disk space: saves fail without an ACK, one clear log line, saving resumes when space returns, the file intact', async () => {
  const mnt = mkdtempSync(join(tmpdir(), 'im-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
  const db = join(mnt, 'messages.db');
  let im: Im | undefined;
  try {
    im = await startIm({ IM_SHARDS: '1', IM_STORE_DB: db, IM_STORE_TIMEOUT_MS: '2000', IM_LOG_LEVEL: 'info' });
    const sender = await login(im, APP, 1, { ackTimeoutMs: 3000 });
    const load = new StoreLoad(sender, 2, 4);
    const failedLines = () => im!.lines.filter((l) => l.includes('message store failed'));
    try {
      await load.more(200, 'saving before the disk fills');
      // Fill what is left of the file system.
      const filler = join(mnt, 'filler');
      const fd = openSync(filler, 'w');
      const chunk = Buffer.alloc(16 * 1024, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        assert.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
      } finally {
        closeSync(fd);
      }
      await eventually(() => failedLines().length > 0, 15_000, 'saves failed');
      const line = JSON.parse(failedLines()[0]!) as { err: string; store: string };
      assert.match(line.err, /full/i);
      const ackedWhenFull = load.acked.size;
      const unackedWhenFull = load.unacked;
      await eventually(() => load.unacked >= unackedWhenFull + 8, 15_000, 'messages went unacknowledged');
      // Some were in flight as the disk filled; after that, nothing is acknowledged.
      assert.ok(load.acked.size - ackedWhenFull <= 8, 'no ACK while the disk is full');
      assert.is(failedLines().length, 1, 'one log line for the outage, not one per batch');
      assert.is((await httpJson(im.httpPort, '/healthz')).status, 503);
      rmSync(filler);
      await load.more(200, 'saving resumed once space returned');
      assert.ok(im.lines.some((l) => l.includes('message store reachable again')));
    } finally {
      await load.stop();
      sender.destroy();
    }
    await verified(im, load, 2);
    assert.is(await im.stop(), 0);
    im = undefined;
    const check = new DatabaseSync(db, { readOnly: true });
    try {
      assert.equal(check.prepare('PRAGMA integrity_check').all().map((r) => r.integrity_check), ['ok']);
    } finally {
      check.close();
    }
  } finally {
    await im?.kill();
    execFileSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});

test.run();
