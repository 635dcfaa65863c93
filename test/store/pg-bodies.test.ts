import { test } from 'uvu';
import * as assert from 'uvu/assert';
import postgres from 'postgres';
import { PostgresStore } from '../../src/store/postgres.ts';
import { QueueKind } from '../../src/store/types.ts';
import { startPostgres, type Postgres } from '../helpers/postgres.ts';
import { loud } from '../helpers/loud.ts';

/* PostgreSQL keeps a message's body once; a store in the layout before is migrated on open. */
let pg: Postgres;
test.before(loud(async () => { pg = await startPostgres(); }));
test.after(loud(async () => { await pg?.stop(); }));

const count = async (sql: postgres.Sql, table: string) => Number((await sql.unsafe(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

test('a store in the layout before bodies were kept once is migrated on open: every message, key, device and save time kept', async () => {
  const sql = postgres(pg.url, { onnotice: () => {} });
  try {
    await sql.unsafe(`
      CREATE TABLE im_queues (appid bigint NOT NULL, kind smallint NOT NULL, owner bigint NOT NULL, last_key bigint NOT NULL, PRIMARY KEY (appid, kind, owner));
      CREATE TABLE im_messages (appid bigint NOT NULL, kind smallint NOT NULL, owner bigint NOT NULL, key bigint NOT NULL,
        device_id bigint NOT NULL, cmd smallint NOT NULL, body bytea NOT NULL, saved_at bigint NOT NULL, PRIMARY KEY (appid, kind, owner, key));
      INSERT INTO im_queues VALUES (1, 0, 7, 120), (1, 1, 7, 120);
      INSERT INTO im_messages SELECT 1, CASE WHEN k % 4 = 0 THEN 1 ELSE 0 END, 7, k * 3, k, 4, convert_to('old ' || k, 'UTF8'), 1000 + k FROM generate_series(1, 40) AS k;`);
    const s = await PostgresStore.open(pg.url);
    try {
      assert.is(s.migrated, 40);
      const page = await s.page({ appid: 1, kind: QueueKind.USER, owner: 7 }, 0, 100);
      const want = Array.from({ length: 40 }, (_, i) => i + 1).filter((k) => k % 4 !== 0);
      assert.equal(page.messages.map((m) => [m.key, m.deviceId, Buffer.from(m.body).toString()]), want.map((k) => [k * 3, k, `old ${k}`]));
      assert.equal(await s.save([{ appid: 1, kind: QueueKind.USER, owner: 7, deviceId: 1, cmd: 4, body: Buffer.from('new') }]), [{ key: 121, prev: 120 }]);
      assert.is(await s.sweep(1000 + 11, 100), 10, 'save times kept: the ten oldest go');
      assert.is((await sql`SELECT to_regclass('im_messages') AS t`)[0]!.t, null, 'the old table is gone');
    } finally {
      await s.close();
    }
    const again = await PostgresStore.open(pg.url);
    assert.is(again.migrated, 0, 'once');
    await again.close();
  } finally {
    await sql.end();
  }
});

test('a normal group\'s message is one body and an entry per member; a sweep takes the body with its entries', async () => {
  const sql = postgres(pg.url, { onnotice: () => {} });
  const s = await PostgresStore.open(pg.url);
  try {
    await s.sweep(Date.now() + 1, 1_000_000);
    const body = Buffer.alloc(32 * 1024, 0x5a);
    const members = 5000;
    await s.save(Array.from({ length: members }, (_, uid) => ({ appid: 2, kind: QueueKind.USER, owner: uid + 1, deviceId: 3, cmd: 8, body })));
    assert.equal([await count(sql, 'im_bodies'), await count(sql, 'im_entries')], [1, members]);
    const page = await s.page({ appid: 2, kind: QueueKind.USER, owner: 4321 }, 0, 10);
    assert.equal(page.messages.map((m) => [m.key, m.deviceId, m.cmd, Buffer.from(m.body).equals(body)]), [[1, 3, 8, true]]);
    assert.is(await s.sweep(Date.now() + 1, 100), members);
    assert.equal([await count(sql, 'im_bodies'), await count(sql, 'im_entries')], [0, 0]);
  } finally {
    await s.close();
    await sql.end();
  }
});

test.run();
