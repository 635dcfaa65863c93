import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
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

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
