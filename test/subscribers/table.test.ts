import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kind, SubscriberTable, SubscriberTableError } from '../../src/subscribers/index.ts';

const packed = (total: number, online: number) => ((online << 16) | total) >>> 0;

test('add and remove return the count before the change', () => {
  const t = SubscriberTable.create(16);
  assert.is(t.addUser(7, 1, true, 0, true), 0);
  assert.is(t.addUser(7, 1, false, 1, true), packed(1, 1));
  assert.is(t.addUser(7, 1, true, 1, false), packed(2, 1));
  assert.is(t.count(Kind.USER, 7, 1), packed(3, 2));
  assert.ok(t.isUserOnline(7, 1));
  assert.is(t.removeUser(7, 1, true, 0, true), packed(3, 2));
  assert.is(t.removeUser(7, 1, true, 1, false), packed(2, 1));
  assert.not.ok(t.isUserOnline(7, 1), 'only an offline connection is left');
  assert.is(t.removeUser(7, 1, false, 1, true), packed(1, 0));
  assert.is(t.count(Kind.USER, 7, 1), 0);
  assert.is(t.size, 0, 'the emptied key is gone');
});

test('users and rooms with the same ids are distinct keys; full 64-bit ids, negative too', () => {
  const t = SubscriberTable.create(16);
  const big = 2 ** 53 - 1;
  t.addUser(big, -big, true, 3, true);
  t.addRoomMember(big, -big, 5, true);
  t.addRoomMember(big, -big, 5, false);
  assert.is(t.count(Kind.USER, big, -big), packed(1, 1));
  assert.is(t.count(Kind.ROOM, big, -big), 2);
  assert.is(t.count(Kind.USER, big, big), 0);
  const seen: unknown[] = [];
  t.scan((kind, appid, id, count) => seen.push([kind, appid, id, count]));
  assert.equal(seen.sort(), [[Kind.ROOM, big, -big, 2], [Kind.USER, big, -big, packed(1, 1)]].sort());
});

test('shard masks cover shards 0..63', () => {
  const t = SubscriberTable.create(16);
  for (const s of [0, 31, 32, 63]) t.addUser(1, 2, true, s, true);
  const out: number[] = [];
  assert.is(t.shards(Kind.USER, 1, 2, out), 4);
  assert.equal(out.slice(0, 4), [0, 31, 32, 63]);
  t.removeUser(1, 2, true, 31, true);
  assert.is(t.shards(Kind.USER, 1, 2, out), 3);
  assert.equal(out.slice(0, 3), [0, 32, 63]);
  assert.is(t.shards(Kind.ROOM, 1, 2, out), 0);
  assert.throws(() => t.addUser(1, 2, true, 64, true), /shard must be/);
});

test('a full table refuses a new key with a typed error and keeps what it has', () => {
  const t = SubscriberTable.create(100);
  for (let uid = 0; uid < 100; uid++) t.addUser(1, uid, true, 0, true);
  const err = (() => { try { t.addUser(1, 1000, true, 0, true); } catch (e) { return e; } })() as SubscriberTableError;
  assert.instance(err, SubscriberTableError);
  assert.is(err.code, 'ERR_TABLE_FULL');
  assert.is(t.size, 100);
  for (let uid = 0; uid < 100; uid++) assert.is(t.count(Kind.USER, 1, uid), packed(1, 1));
  assert.is(t.addUser(1, 5, false, 0, false), packed(1, 1), 'existing keys still take connections');
  t.removeUser(1, 5, false, 0, false);
  t.removeUser(1, 5, true, 0, true);
  assert.is(t.addUser(1, 1000, true, 0, true), 0, 'a freed slot takes the new key');
});

test('a count that would pass 65535 is refused the same way', () => {
  const t = SubscriberTable.create(4);
  for (let i = 0; i < 65535; i++) t.addRoomMember(1, 9, 0, i === 0);
  const err = (() => { try { t.addRoomMember(1, 9, 0, false); } catch (e) { return e; } })() as SubscriberTableError;
  assert.is(err.code, 'ERR_COUNT_LIMIT');
  assert.is(t.count(Kind.ROOM, 1, 9), 65535);
  const u = SubscriberTable.create(4);
  for (let i = 0; i < 65535; i++) u.addUser(1, 9, true, 0, i === 0);
  assert.throws(() => u.addUser(1, 9, false, 0, false), (e: unknown) => (e as SubscriberTableError).code === 'ERR_COUNT_LIMIT');
  assert.is(u.count(Kind.USER, 1, 9), packed(65535, 65535));
});

test('removing what is not counted is a typed error and changes nothing', () => {
  const t = SubscriberTable.create(4);
  assert.throws(() => t.removeUser(1, 1, true, 0, true), (e: unknown) => (e as SubscriberTableError).code === 'ERR_NOT_SUBSCRIBED');
  t.addUser(1, 1, false, 0, true);
  assert.throws(() => t.removeUser(1, 1, true, 0, true), (e: unknown) => (e as SubscriberTableError).code === 'ERR_NOT_SUBSCRIBED');
  assert.is(t.count(Kind.USER, 1, 1), packed(1, 0));
});

test('a long run of logins and logouts never fills the table', () => {
  const t = SubscriberTable.create(64);
  for (let i = 0; i < 200_000; i++) {
    const uid = i * 7919;
    t.addUser(3, uid, true, i % 4, true);
    if (i % 3 === 0) t.addRoomMember(3, uid, 0, true);
    t.removeUser(3, uid, true, i % 4, true);
    if (i % 3 === 0) t.removeRoomMember(3, uid, 0, true);
    if (i % 1000 === 0) assert.is(t.size, 0);
  }
  assert.is(t.size, 0);
  assert.ok(t.tombstones <= 128, `tombstones are swept (${t.tombstones})`);
});

test('another thread maps the same buffer', async () => {
  const t = SubscriberTable.create(16);
  t.addUser(1, 2, true, 0, true);
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.url).then(({ SubscriberTable }) => {
      const t = new SubscriberTable(workerData.buffer);
      parentPort.postMessage(t.addUser(1, 2, false, 1, true));
    });`, { eval: true, workerData: { buffer: t.buffer, url: new URL('../../src/subscribers/table.ts', import.meta.url).href } });
  const [prev] = await (await import('node:events')).once(w, 'message');
  assert.is(prev, packed(1, 1));
  assert.is(t.count(Kind.USER, 1, 2), packed(2, 1));
  await w.terminate();
});

test('attaching to a buffer that is not a table fails clearly', () => {
  assert.throws(() => new SubscriberTable(new SharedArrayBuffer(1024)), /not a subscriber table/);
});

test('levels: the table grows by need up to its capacity; a view made before growth sees keys in new levels', () => {
  const t = SubscriberTable.create(1000, 16);
  const other = new SubscriberTable(t.buffer); // another thread's mapping, made while small
  assert.is(t.levels, 1);
  const first = t.bytes;
  for (let uid = 0; uid < 1000; uid++) t.addUser(3, uid, uid % 2 === 0, 1, true);
  assert.ok(t.levels > 4, `${t.levels} levels`);
  assert.ok(t.bytes > first);
  const out: number[] = [];
  for (let uid = 0; uid < 1000; uid++) {
    assert.is(other.count(Kind.USER, 3, uid), uid % 2 === 0 ? 0x10001 : 1, `uid ${uid}`);
    assert.equal(out.slice(0, other.shards(Kind.USER, 3, uid, out)), [1]);
  }
  assert.throws(() => t.addUser(3, 1000, true, 1, true), (e: unknown) => e instanceof SubscriberTableError && e.code === 'ERR_TABLE_FULL');
  for (let uid = 0; uid < 1000; uid++) other.removeUser(3, uid, uid % 2 === 0, 1, true);
  assert.is(t.size, 0);
  let n = 0;
  t.scan(() => n++);
  assert.is(n, 0);
  // Freed slots in every level are used again: the table does not grow further.
  const grown = t.bytes;
  for (let uid = 5000; uid < 6000; uid++) t.addRoomMember(3, uid, 0, true);
  assert.is(t.bytes, grown);
  assert.is(t.size, 1000);
});

test.run();
