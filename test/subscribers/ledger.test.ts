/** The per-shard ledger: counts like the table's, growth by need, and what a dead shard leaves. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { Kind, Ledger, SubscriberTableError } from '../../src/subscribers/index.ts';

type Model = Map<string, number>;
const key = (kind: Kind, appid: number, id: number) => `${kind}:${appid}:${id}`;

function contents(l: Ledger): Model {
  const m: Model = new Map();
  l.scan((kind, appid, id, count) => {
    assert.not.ok(m.has(key(kind, appid, id)), 'each key once');
    m.set(key(kind, appid, id), count);
  });
  return m;
}

test('counts users (all and online halves) and rooms; a key at zero is gone', () => {
  const l = Ledger.create(1000);
  l.addUser(1, 10, true);
  l.addUser(1, 10, false);
  l.addRoomMember(1, 10);
  l.addUser(-5, 2 ** 53 - 1, true);
  assert.equal(contents(l), new Map([[key(Kind.USER, 1, 10), 2 + 0x10000], [key(Kind.ROOM, 1, 10), 1], [key(Kind.USER, -5, 2 ** 53 - 1), 1 + 0x10000]]));
  l.removeUser(1, 10, true);
  l.removeUser(1, 10, false);
  l.removeRoomMember(1, 10);
  assert.equal(contents(l), new Map([[key(Kind.USER, -5, 2 ** 53 - 1), 1 + 0x10000]]));
  assert.is(l.size, 1);
  assert.throws(() => l.removeUser(1, 10, false), (e: unknown) => e instanceof SubscriberTableError && e.code === 'ERR_NOT_SUBSCRIBED');
});

test('grows with its keys instead of reserving the capacity, and stops growing under churn', () => {
  const l = Ledger.create(1 << 20);
  const first = l.bytes;
  assert.ok(first < 64 * 1024, `starts small: ${first} bytes`);
  for (let uid = 0; uid < 50_000; uid++) l.addUser(7, uid, uid % 3 === 0);
  assert.is(l.size, 50_000);
  assert.ok(l.bytes < 50_000 * 24 * 4 * 2, `grown by need: ${l.bytes} bytes for 50,000 keys`);
  const m = contents(l);
  assert.is(m.size, 50_000);
  assert.is(m.get(key(Kind.USER, 7, 3)), 1 + 0x10000);
  assert.is(m.get(key(Kind.USER, 7, 4)), 1);
  for (let uid = 0; uid < 50_000; uid++) l.removeUser(7, uid, uid % 3 === 0);
  // Churn through many short-lived keys: tombstones are cleared by rebuilds, the buffer stops growing.
  const before = l.bytes;
  for (let round = 0; round < 400; round++) {
    for (let uid = 0; uid < 300; uid++) l.addRoomMember(1, round * 1000 + uid);
    for (let uid = 0; uid < 300; uid++) l.removeRoomMember(1, round * 1000 + uid);
  }
  assert.is(l.bytes, before);
  assert.is(contents(l).size, 0);
});

test('randomized: always what a Map of the same operations holds', () => {
  const l = Ledger.create(5000);
  const m: Model = new Map();
  let seed = 12345;
  const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  for (let step = 0; step < 100_000; step++) {
    const kind = rnd(2) === 0 ? Kind.USER : Kind.ROOM;
    const appid = rnd(3) - 1;
    const id = rnd(2000) * (rnd(2) === 0 ? 1 : -1);
    const online = kind === Kind.USER && rnd(2) === 0;
    const k = key(kind, appid, id);
    const delta = online ? 1 + 0x10000 : 1;
    const have = m.get(k) ?? 0;
    const canRemove = kind === Kind.ROOM ? have > 0 : online ? have >>> 16 > 0 && (have & 0xffff) > 0 : (have & 0xffff) > have >>> 16;
    if (rnd(2) === 0 && canRemove) {
      if (kind === Kind.USER) l.removeUser(appid, id, online);
      else l.removeRoomMember(appid, id);
      if (have - delta === 0) m.delete(k);
      else m.set(k, have - delta);
    } else {
      if (kind === Kind.USER) l.addUser(appid, id, online);
      else l.addRoomMember(appid, id);
      m.set(k, have + delta);
    }
  }
  assert.equal(contents(l), m);
});

test('what a shard thread wrote, growth included, is read whole by the main thread after the thread is gone', async () => {
  const l = Ledger.create(100_000);
  const code = `
    const { workerData } = require('node:worker_threads');
    import(${JSON.stringify(new URL('../../src/subscribers/ledger.ts', import.meta.url).href)}).then(({ Ledger }) => {
      const l = new Ledger(workerData);
      for (let uid = 0; uid < 30000; uid++) l.addUser(3, uid, true);
      for (let uid = 0; uid < 30000; uid += 2) l.removeUser(3, uid, true);
      process.exit(0);
    });`;
  const w = new Worker(code, { eval: true, workerData: l.buffer });
  const [exit] = await once(w, 'exit');
  assert.is(exit, 0);
  const m = contents(new Ledger(l.buffer));
  assert.is(m.size, 15_000);
  assert.is(m.get(key(Kind.USER, 3, 1)), 1 + 0x10000);
  assert.not.ok(m.has(key(Kind.USER, 3, 0)));
});

test.run();
