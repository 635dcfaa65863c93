import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { QueueKind, StoreError, type SaveItem } from '../../src/store/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'im-sqlite-engine-'));
let n = 0;
const file = () => join(dir, `m${n++}.db`);
const item = (owner: number, text: string, kind: QueueKind = QueueKind.USER, cmd = 4): SaveItem => ({ appid: 1, kind, owner, deviceId: 9, cmd, body: Buffer.from(text) });
const text = (b: Uint8Array) => Buffer.from(b).toString();

test('keys count 1, 2, 3… per queue, in save order, across batches and queues; prev is the key before', async () => {
  const s = new SqliteStore(file());
  assert.equal(await s.save([item(1, 'a'), item(2, 'b'), item(1, 'c')]), [{ key: 1, prev: 0 }, { key: 1, prev: 0 }, { key: 2, prev: 1 }]);
  assert.equal(await s.save([item(1, 'd'), item(1, 'e', QueueKind.GROUP)]), [{ key: 3, prev: 2 }, { key: 1, prev: 0 }]);
  const p = await s.page({ appid: 1, kind: QueueKind.USER, owner: 1 }, 1, 10);
  assert.equal(p.messages.map((m) => [m.key, text(m.body), m.deviceId, m.cmd]), [[2, 'c', 9, 4], [3, 'd', 9, 4]]);
  assert.equal([p.newest, p.more], [3, false]);
  assert.equal((await s.page({ appid: 1, kind: QueueKind.USER, owner: 1 }, 0, 2)).more, true);
  await s.close();
});

test('keys survive a reopen: the next key follows the last committed one', async () => {
  const f = file();
  const a = new SqliteStore(f);
  await a.save([item(5, 'x'), item(5, 'y')]);
  await a.close();
  const b = new SqliteStore(f);
  assert.equal(await b.save([item(5, 'z')]), [{ key: 3, prev: 2 }]);
  await b.close();
});

test('newest page, latest of some cmds, acknowledged keys only grow, counts after a key', async () => {
  const s = new SqliteStore(file());
  const items: SaveItem[] = [];
  for (let i = 1; i <= 10; i++) items.push(item(7, `g${i}`, QueueKind.GROUP));
  await s.save(items);
  const np = await s.newestPage({ appid: 1, kind: QueueKind.GROUP, owner: 7 }, 2, 3);
  assert.equal(np.messages.map((m) => m.key), [8, 9, 10]);
  await s.save([item(8, 'im1'), item(8, 'sys', QueueKind.USER, 21), item(8, 'im2')]);
  assert.equal((await s.latest(1, 8, [4], 5)).map((m) => text(m.body)), ['im1', 'im2']);
  await s.ack(1, 8, 0, 2);
  await s.ack(1, 8, 0, 1);
  assert.is(await s.acked(1, 8, 0), 2);
  assert.is(await s.acked(1, 8, 99), 0);
  assert.is(await s.countAfter(1, 8, 1), 2);
  await s.close();
});

test('a failed batch saves nothing and hands out no key', async () => {
  const s = new SqliteStore(file());
  await s.save([item(3, 'ok')]);
  const bad = { ...item(3, 'bad'), body: 'not bytes' as unknown as Uint8Array, cmd: Number.NaN };
  try {
    await s.save([item(3, 'lost'), bad]);
    assert.unreachable('the batch should fail');
  } catch (err) {
    assert.instance(err, StoreError);
  }
  assert.equal(await s.save([item(3, 'next')]), [{ key: 2, prev: 1 }]);
  assert.equal((await s.page({ appid: 1, kind: QueueKind.USER, owner: 3 }, 0, 10)).messages.map((m) => text(m.body)), ['ok', 'next']);
  await s.close();
});

test('a second store on the same file is refused while the first holds it', async () => {
  const f = file();
  const a = new SqliteStore(f);
  assert.throws(() => new SqliteStore(f), /locked/);
  await a.close();
});

test('retention: a sweep deletes only what is older, at most `max` rows, oldest first', async () => {
  const s = new SqliteStore(file());
  const items: SaveItem[] = [];
  for (let i = 0; i < 50; i++) items.push(item(i % 5, `m${i}`));
  await s.save(items);
  assert.is(await s.sweep(Date.now() - 60_000, 10), 0, 'nothing is that old');
  assert.is(await s.sweep(Date.now() + 1, 20), 20);
  assert.is(await s.sweep(Date.now() + 1, 100), 30);
  assert.is(await s.sweep(Date.now() + 1, 100), 0);
  assert.equal(await s.save([item(0, 'after')]), [{ key: 11, prev: 10 }], 'keys keep growing after a sweep');
  await s.close();
});

/** Bytes the file takes with its WAL folded in. */
function bytesOf(f: string): number {
  const db = new DatabaseSync(f);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  return statSync(f).size;
}

test('a normal group\'s message is one body and a small entry per member; a sweep takes the body with its entries', async () => {
  const f = file();
  const s = new SqliteStore(f);
  await s.save([item(1, 'warm-up')]);
  await s.close();
  const before = bytesOf(f);
  const s2 = new SqliteStore(f);
  const body = Buffer.alloc(32 * 1024, 0x5a);
  const members = 5000;
  const saved = await s2.save(Array.from({ length: members }, (_, uid) => ({ appid: 1, kind: QueueKind.USER, owner: 10_000 + uid, deviceId: 3, cmd: 8, body })));
  assert.equal(saved[members - 1], { key: 1, prev: 0 });
  const page = await s2.page({ appid: 1, kind: QueueKind.USER, owner: 10_000 + 4321 }, 0, 10);
  assert.equal(page.messages.map((m) => [m.key, m.deviceId, m.cmd, Buffer.from(m.body).equals(body)]), [[1, 3, 8, true]]);
  await s2.close();
  const grown = bytesOf(f) - before;
  if (process.env.TEST_VERBOSE === '1') console.log(`grew ${grown} bytes: ${((grown - body.length) / members).toFixed(1)} a member`);
  assert.ok(grown <= body.length + 64 * members, `the file grew ${grown} bytes: more than the body and 64 bytes a member`);
  const s3 = new SqliteStore(f);
  assert.is(await s3.sweep(Date.now() + 1, 100), members + 1, 'every entry of the old messages');
  await s3.close();
  const db = new DatabaseSync(f);
  assert.equal({ ...db.prepare('SELECT (SELECT count(*) FROM bodies) AS b, (SELECT count(*) FROM entries) AS e').get() }, { b: 0, e: 0 }, 'no body is left without an entry, none the other way');
  db.close();
});

test('a store in the layout before bodies were kept once is migrated on open: every message, key, device and save time kept', async () => {
  const f = file();
  const old = new DatabaseSync(f);
  old.exec(`
    CREATE TABLE queues (appid INTEGER NOT NULL, kind INTEGER NOT NULL, owner INTEGER NOT NULL, last_key INTEGER NOT NULL, PRIMARY KEY (appid, kind, owner)) WITHOUT ROWID;
    CREATE TABLE messages (id INTEGER PRIMARY KEY, appid INTEGER NOT NULL, kind INTEGER NOT NULL, owner INTEGER NOT NULL, key INTEGER NOT NULL,
      device_id INTEGER NOT NULL, cmd INTEGER NOT NULL, body BLOB NOT NULL, saved_at INTEGER NOT NULL);
    CREATE UNIQUE INDEX messages_queue ON messages (appid, kind, owner, key);
    CREATE TABLE acked_keys (appid INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL, key INTEGER NOT NULL, PRIMARY KEY (appid, uid, gid)) WITHOUT ROWID;`);
  const insert = old.prepare('INSERT INTO messages (appid, kind, owner, key, device_id, cmd, body, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  for (let k = 1; k <= 40; k++) insert.run(1, k % 4 === 0 ? QueueKind.GROUP : QueueKind.USER, 7, k * 3, k, 4, Buffer.from(`old ${k}`), 1_000 + k);
  old.exec('INSERT INTO queues VALUES (1, 0, 7, 117), (1, 1, 7, 120)');
  old.close();
  const s = new SqliteStore(f);
  assert.is(s.migrated, 40);
  const users = await s.page({ appid: 1, kind: QueueKind.USER, owner: 7 }, 0, 100);
  const want = Array.from({ length: 40 }, (_, i) => i + 1).filter((k) => k % 4 !== 0);
  assert.equal(users.messages.map((m) => [m.key, m.deviceId, text(m.body)]), want.map((k) => [k * 3, k, `old ${k}`]));
  assert.equal(await s.save([item(7, 'new')]), [{ key: 118, prev: 117 }], 'new messages follow the migrated ones');
  assert.is(await s.sweep(1_000 + 11, 100), 10, 'save times kept: the ten oldest go');
  await s.close();
  const again = new SqliteStore(f);
  assert.is(again.migrated, 0, 'once');
  await again.close();
  // Servers sharing the file: whichever opens it second finds it moved already.
  const [one, two] = [new SqliteStore(f, { shared: true }), new SqliteStore(f, { shared: true })];
  assert.equal([one.migrated, two.migrated], [0, 0]);
  assert.is((await two.page({ appid: 1, kind: QueueKind.USER, owner: 7 }, 117, 10)).messages.length, 1);
  await one.close();
  await two.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
