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

test('one lane: no lanes at all, batches are served one after the other', async () => {
  const store = await PostgresStore.open(pg.url, undefined, 1);
  assert.is(store.saveInLanes, undefined);
  await store.close();
});

test.run();
