import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PostgresStore } from '../../src/store/postgres.ts';
import postgres from 'postgres';
import { QueueKind, type MessageSave, type SaveItem } from '../../src/store/types.ts';
import { startPostgres, type Postgres } from '../helpers/postgres.ts';
import { loud } from '../helpers/loud.ts';

/*
 * PostgreSQL saves in lanes: many batches in flight at once, each message whole in its
 * sender's lane, and still each sender's messages keep their order in every queue.
 */
let pg: Postgres;
test.before(loud(async () => { pg = await startPostgres(); }));
test.after(loud(async () => { await pg?.stop(); }));

/** A peer IM from `sender` to `receiver` as the path saves it: the receiver's entry, then the sender's copy, one body. */
function peerIM(appid: number, sender: number, receiver: number, text: string): MessageSave {
  const body = Buffer.from(text);
  const entry = (owner: number): SaveItem => ({ appid, kind: QueueKind.USER, owner, deviceId: sender, cmd: 4, body });
  return { appid, sender, items: [entry(receiver), entry(sender)] };
}

const texts = async (store: PostgresStore, appid: number, owner: number) =>
  (await store.page({ appid, kind: QueueKind.USER, owner }, 0, 10_000)).messages.map((m) => Buffer.from(m.body).toString());

test('batches in flight at once over four lanes: each sender\'s messages in send order in every queue, keys 1, 2, 3… none twice', async () => {
  const store = await PostgresStore.open(pg.url, undefined, 4);
  try {
    const senders = [1, 2, 3, 4, 5, 6, 7, 8];
    const receivers = [101, 102, 103];
    const batches = Array.from({ length: 40 }, (_, n) => senders.filter((s) => (n + s) % 3 !== 0)
      .map((s) => peerIM(3, s, receivers[(n + s) % receivers.length]!, `${s}:${n}`)));
    const results = await Promise.all(batches.map((b) => store.saveInLanes!(b)));
    const keys = new Map<number, number[]>();
    results.forEach((r, n) => r.forEach((saved, m) => {
      if (saved instanceof Error) throw saved;
      batches[n]![m]!.items.forEach((it, i) => keys.set(it.owner, [...(keys.get(it.owner) ?? []), saved[i]!.key]));
    }));
    for (const [q, ks] of keys) {
      assert.equal([...ks].sort((a, b) => a - b), ks.map((_, i) => i + 1), `queue ${q}: keys 1..n, none twice`);
      const stored = await texts(store, 3, q);
      assert.is(stored.length, ks.length);
      for (const s of senders) {
        const mine = stored.filter((t) => t.startsWith(`${s}:`)).map((t) => Number(t.split(':')[1]));
        assert.equal(mine, [...mine].sort((a, b) => a - b), `queue ${q}: sender ${s}'s messages in the order sent`);
      }
    }
  } finally {
    await store.close();
  }
});

test('one lane\'s transaction fails (a fault injected in PostgreSQL): no message is partly visible, the other lanes commit', async () => {
  const store = await PostgresStore.open(pg.url, undefined, 4);
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  const APP = 5;
  const DOOMED = 666;
  try {
    // Every entry for user 666 makes its transaction fail, whatever else that transaction holds.
    await sql.unsafe(`CREATE OR REPLACE FUNCTION im_test_fault() RETURNS trigger AS $$
      BEGIN IF NEW.owner = ${DOOMED} THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await sql.unsafe('CREATE TRIGGER im_test_fault BEFORE INSERT ON im_entries FOR EACH ROW EXECUTE FUNCTION im_test_fault()');
    // Senders 1 and 2 now and then write to the doomed user; the others never do.
    const senders = Array.from({ length: 12 }, (_, i) => i + 1);
    const batches = Array.from({ length: 6 }, (_, n) => senders.map((s) =>
      peerIM(APP, s, s <= 2 && n % 2 === 1 ? DOOMED : 200 + ((s + n) % 4), `m ${s}:${n}`)));
    const results = await Promise.all(batches.map((b) => store.saveInLanes!(b)));
    const rows = await sql<{ text: string; entries: string }[]>`
      SELECT convert_from(b.body, 'UTF8') AS text, count(e.key) AS entries
      FROM im_bodies b LEFT JOIN im_entries e ON e.body_id = b.id AND e.appid = ${APP}
      WHERE convert_from(b.body, 'UTF8') LIKE 'm %' GROUP BY b.id, b.body`;
    const seen = new Map<string, number[]>();
    for (const r of rows) seen.set(r.text, [...(seen.get(r.text) ?? []), Number(r.entries)]);
    let failed = 0;
    let saved = 0;
    batches.forEach((b, n) => b.forEach((m, i) => {
      const text = Buffer.from(m.items[0]!.body).toString();
      const r = results[n]![i]!;
      if (r instanceof Error) {
        failed++;
        assert.is(seen.get(text), undefined, `${text} failed: neither its body nor any entry is there`);
      } else {
        saved++;
        assert.equal(seen.get(text), [2], `${text} saved: one body, both entries`);
      }
    }));
    assert.ok(failed > 0, 'the fault failed some messages');
    assert.ok(saved > 0, 'the lanes without the fault committed');
    for (const r of results.flat()) if (r instanceof Error) assert.match(r.message, /injected fault/);
  } finally {
    await sql.unsafe('DROP TRIGGER IF EXISTS im_test_fault ON im_entries');
    await sql.end();
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
