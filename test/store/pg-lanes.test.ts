import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PostgresStore } from '../../src/store/postgres.ts';
import { QueueKind, type SaveItem, type Saved } from '../../src/store/types.ts';
import { startPostgres, type Postgres } from '../helpers/postgres.ts';
import { loud } from '../helpers/loud.ts';

/*
 * PostgreSQL saves in lanes: many batches in flight at once, and still each queue's keys
 * follow the order in which the batches came.
 */
let pg: Postgres;
test.before(loud(async () => { pg = await startPostgres(); }));
test.after(loud(async () => { await pg?.stop(); }));

test('batches in flight at once over four lanes: every queue\'s keys in the order the batches came, none twice', async () => {
  const store = await PostgresStore.open(pg.url, undefined, 4);
  try {
    const item = (owner: number, n: number): SaveItem => ({ appid: 3, kind: QueueKind.USER, owner, deviceId: 0, cmd: 4, body: Buffer.from(`${owner}:${n}`) });
    const batches = Array.from({ length: 60 }, (_, n) => [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter((q) => (n + q) % 3 !== 0).map((q) => item(q, n)));
    const results = await Promise.all(batches.map((b) => store.saveInLanes!(b)));
    const keys = new Map<number, number[]>();
    results.forEach((r, n) => r.forEach((s, i) => {
      assert.not.instance(s, Error);
      const q = batches[n]![i]!.owner;
      keys.set(q, [...(keys.get(q) ?? []), (s as Saved).key]);
    }));
    for (const [q, ks] of keys) {
      assert.equal(ks, ks.map((_, i) => i + 1), `queue ${q}: keys in the order of the batches`);
      const stored = await store.page({ appid: 3, kind: QueueKind.USER, owner: q }, 0, 1000);
      assert.equal(stored.messages.map((m) => Buffer.from(m.body).toString()), batches.flatMap((b) => b.filter((it) => it.owner === q).map((it) => Buffer.from(it.body).toString())));
    }
  } finally {
    await store.close();
  }
});

test('one batch, queues interleaved in any order, a body shared by many: each message at its queue\'s next key with its own body', async () => {
  const store = await PostgresStore.open(pg.url, undefined, 1);
  try {
    const shared = Buffer.from('one body for a whole group');
    const q = (owner: number, kind: QueueKind = QueueKind.USER) => ({ appid: 8, kind, owner });
    const items: SaveItem[] = [];
    for (let n = 0; n < 30; n++) {
      const owner = [9, 2, 7, -5, 2 ** 40][n % 5]!;
      items.push({ ...q(owner, n % 7 === 0 ? QueueKind.GROUP : QueueKind.USER), deviceId: n, cmd: 4 + (n % 3), body: n % 2 === 0 ? shared : Buffer.from(`own ${n}`) });
    }
    const first = await store.save(items.slice(0, 10));
    const rest = await store.save(items.slice(10));
    const saved = [...first, ...rest];
    const seen = new Map<string, number>();
    items.forEach((it, i) => {
      const id = `${it.kind}:${it.owner}`;
      const want = (seen.get(id) ?? 0) + 1;
      seen.set(id, want);
      assert.equal(saved[i], { key: want, prev: want - 1 }, `item ${i}`);
    });
    for (const id of seen.keys()) {
      const [kind, owner] = id.split(':').map(Number) as [QueueKind, number];
      const page = await store.page(q(owner, kind), 0, 100);
      const mine = items.filter((it) => it.kind === kind && it.owner === owner);
      assert.equal(page.messages.map((m) => [m.deviceId, m.cmd, Buffer.from(m.body).toString()]), mine.map((it) => [it.deviceId, it.cmd, Buffer.from(it.body).toString()]), id);
    }
  } finally {
    await store.close();
  }
});

test('one lane: no lanes at all, batches are served one after the other', async () => {
  const store = await PostgresStore.open(pg.url, undefined, 1);
  assert.is(store.saveInLanes, undefined);
  await store.close();
});

test.run();
