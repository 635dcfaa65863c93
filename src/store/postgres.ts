import postgres from 'postgres';
import type { Logger } from '../log/logger.ts';
import { driverGuarded } from './pg-driver-fix.ts';
import { uniqueBodies } from './bodies.ts';
import { StoreError, perMessage, type AckedKey, type MessageSave, type ImportTarget, type ImportedMessage, type Page, type QueueRef, type SaveItem, type Saved, type StoreEngine, type StoredMessage } from './types.ts';

/*
 * The same tables as the embedded engine (a message's body once, an entry per queue that
 * holds it), for several access servers sharing one store.
 * Every key starts with (appid, kind, owner): a table can be partitioned, or distributed
 * with Citus, by those columns without touching a query.
 */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS im_queues (
     appid bigint NOT NULL, kind smallint NOT NULL, owner bigint NOT NULL, last_key bigint NOT NULL,
     PRIMARY KEY (appid, kind, owner))`,
  'CREATE SEQUENCE IF NOT EXISTS im_body_ids',
  `CREATE TABLE IF NOT EXISTS im_bodies (
     id bigint PRIMARY KEY DEFAULT nextval('im_body_ids'),
     device_id bigint NOT NULL, cmd smallint NOT NULL, body bytea NOT NULL, saved_at bigint NOT NULL)`,
  'CREATE INDEX IF NOT EXISTS im_bodies_saved_at ON im_bodies (saved_at)',
  `CREATE TABLE IF NOT EXISTS im_entries (
     appid bigint NOT NULL, kind smallint NOT NULL, owner bigint NOT NULL, key bigint NOT NULL, body_id bigint NOT NULL,
     PRIMARY KEY (appid, kind, owner, key))`,
  'CREATE INDEX IF NOT EXISTS im_entries_body ON im_entries (body_id)',
  `CREATE TABLE IF NOT EXISTS im_acked_keys (
     appid bigint NOT NULL, uid bigint NOT NULL, gid bigint NOT NULL, key bigint NOT NULL,
     PRIMARY KEY (appid, uid, gid))`,
];

/**
 * The layout before bodies were kept once (one im_messages row per queue entry, body
 * included) becomes bodies and entries, each old row one body, keys and save times kept.
 */
const MIGRATE = [
  'ALTER TABLE im_messages ADD COLUMN IF NOT EXISTS body_id bigint',
  "UPDATE im_messages SET body_id = nextval('im_body_ids')",
  'INSERT INTO im_bodies (id, device_id, cmd, body, saved_at) SELECT body_id, device_id, cmd, body, saved_at FROM im_messages',
  'INSERT INTO im_entries (appid, kind, owner, key, body_id) SELECT appid, kind, owner, key, body_id FROM im_messages',
  'DROP TABLE im_messages',
];
const ENTRY = 'SELECT e.key, b.device_id, b.cmd, b.body FROM im_entries e JOIN im_bodies b ON b.id = e.body_id';

type Row = Record<string, unknown>;
const num = (v: unknown) => Number(v);
const qid = (q: QueueRef) => `${q.appid}:${q.kind}:${q.owner}`;

/**
 * PostgreSQL engine. Keys are assigned per queue by an upsert of the queue's row, which
 * holds that row's lock until the transaction commits: another server saving to the same
 * queue waits, so its (greater) key becomes visible only after ours. A batch takes its
 * queue rows in one sorted order, so two transactions (two servers', or two lanes' of one
 * server) cannot deadlock on each other.
 * Driver: `postgres` (pure JavaScript, no native build, pipelines queries on a connection).
 */
export class PostgresStore implements StoreEngine, ImportTarget {
  readonly #sql: postgres.Sql;
  /** Each lane's last transaction: the next of that lane starts once it has settled. */
  readonly #lanes: Promise<unknown>[];
  readonly #log: Logger | undefined;

  private constructor(sql: postgres.Sql, lanes: number, log: Logger | undefined) {
    this.#sql = sql;
    this.#log = log;
    this.#lanes = Array.from({ length: lanes }, () => Promise.resolve());
  }

  /** `lanes`: transactions in flight at once (IM_STORE_PG_LANES); 1 serves batches one after the other. */
  static async open(url: string, log?: Logger, lanes = 1): Promise<PostgresStore> {
    if (!driverGuarded()) log?.warn('the PostgreSQL driver lacks the fix of patches/postgres+3.4.9.patch (installed with --ignore-scripts?): a lost connection can stop this thread; run npm install');
    // A connection per lane, and two for reads and sweeps.
    const sql = postgres(url, { max: lanes + 2, onnotice: () => {}, connect_timeout: 5, idle_timeout: 0, max_lifetime: null });
    const s = new PostgresStore(sql, lanes, log);
    if (lanes <= 1) s.saveInLanes = undefined;
    try {
      await s.#createTables();
    } catch (err) {
      // Not reachable yet: the tables are made on first use once it is (see #ready).
      s.#schemaPending = err;
    }
    return s;
  }

  #schemaPending: unknown = undefined;

  async #ready(): Promise<void> {
    if (this.#schemaPending === undefined) return;
    await this.#createTables();
    this.#schemaPending = undefined;
  }

  /** Messages moved from the layout before bodies were kept once (0: none), when the tables were made. */
  migrated = 0;

  async #createTables(): Promise<void> {
    await this.#sql.begin(async (tx) => {
      // One server creates the tables (and migrates); others starting at the same moment wait for it.
      await tx`SELECT pg_advisory_xact_lock(7291)`;
      for (const ddl of SCHEMA) await tx.unsafe(ddl);
      const [old] = await tx<Row[]>`SELECT to_regclass('im_messages') IS NOT NULL AS present`;
      if (old?.present !== true) return;
      const [n] = await tx<Row[]>`SELECT count(*) AS n FROM im_messages`;
      for (const step of MIGRATE) await tx.unsafe(step);
      this.migrated = num(n!.n);
      this.#log?.info({ messages: this.migrated }, 'store migrated: each message\'s body is now kept once');
    });
  }

  async save(items: SaveItem[]): Promise<Saved[]> {
    if (items.length === 0) return [];
    const b = batchOf(items);
    const u = uniqueBodies(items);
    const blob = blobOf(u.bodies.map((x) => x.body));
    try {
      await this.#ready();
      // One statement, so one transaction and one round trip, prepared once: the queues'
      // rows are raised (locked in one sorted order, held to the commit), each body is
      // written once and an entry for each queue at the key that frees, all from arrays.
      const rows = await this.#sql<Row[]>`
        WITH input AS (
          SELECT * FROM unnest(${b.appids}::bigint[], ${b.kinds}::smallint[], ${b.owners}::bigint[], ${b.counts}::bigint[])
            WITH ORDINALITY AS t(appid, kind, owner, n, qi)),
        q AS (
          INSERT INTO im_queues (appid, kind, owner, last_key) SELECT appid, kind, owner, n FROM input ORDER BY qi
          ON CONFLICT (appid, kind, owner) DO UPDATE SET last_key = im_queues.last_key + excluded.last_key
          RETURNING appid, kind, owner, last_key),
        keyed AS (SELECT i.qi, i.appid, i.kind, i.owner, q.last_key - i.n AS base FROM input i JOIN q USING (appid, kind, owner)),
        bodies AS (
          SELECT nextval('im_body_ids') AS id, x.* FROM unnest(${u.bodies.map((x) => x.deviceId)}::bigint[], ${u.bodies.map((x) => x.cmd)}::smallint[],
            ${blob.offs}::int[], ${blob.lens}::int[]) WITH ORDINALITY AS x(device_id, cmd, off, len, bi)),
        written AS (
          INSERT INTO im_bodies (id, device_id, cmd, body, saved_at)
          SELECT id, device_id, cmd, substring(${blob.bytes}::bytea from off + 1 for len), ${Date.now()}::bigint FROM bodies),
        m AS (
          INSERT INTO im_entries (appid, kind, owner, key, body_id)
          SELECT k.appid, k.kind, k.owner, k.base + e.ord, bodies.id
          FROM unnest(${b.queue}::int[], ${b.ord}::bigint[], ${u.of.map((i) => i + 1)}::int[]) AS e(qi, ord, bi)
          JOIN keyed k ON k.qi = e.qi JOIN bodies ON bodies.bi = e.bi)
        SELECT qi, base FROM keyed`;
      const base = new Array<number>(b.appids.length);
      for (const r of rows) base[num(r.qi) - 1] = num(r.base);
      return b.queue.map((qi, i) => {
        const key = base[qi - 1]! + b.ord[i]!;
        return { key, prev: key - 1 };
      });
    } catch (err) {
      throw new StoreError('ERR_STORE_WRITE', `saving ${items.length} messages failed: ${(err as Error).message}`, { cause: err });
    }
  }

  saveInLanes?: (messages: readonly MessageSave[]) => Promise<(Saved[] | Error)[]> = async (messages) => {
    const n = this.#lanes.length;
    const byLane: number[][] = Array.from({ length: n }, () => []);
    for (let m = 0; m < messages.length; m++) byLane[laneOf(messages[m]!.appid, messages[m]!.sender, n)]!.push(m);
    const out: (Saved[] | Error)[] = new Array(messages.length);
    await Promise.all(byLane.map((mine, lane) => {
      if (mine.length === 0) return undefined;
      // Appended now, in the order batches arrive: a sender's saves keep that order. A
      // message's entries are all in this one transaction: it commits whole or not at all.
      const run = this.#lanes[lane]!.then(() => this.save(mine.flatMap((m) => messages[m]!.items)));
      this.#lanes[lane] = run.catch(() => {});
      return run.then(
        (saved) => perMessage(mine.map((m) => messages[m]!), saved).forEach((r, k) => { out[mine[k]!] = r; }),
        (err: Error) => { for (const m of mine) out[m] = err; },
      );
    }));
    return out;
  };

  async page(q: QueueRef, after: number, limit: number): Promise<Page> {
    await this.#ready();
    const rows = await this.#sql<Row[]>`
      ${this.#sql.unsafe(ENTRY)}
      WHERE e.appid = ${q.appid} AND e.kind = ${q.kind} AND e.owner = ${q.owner} AND e.key > ${after} ORDER BY e.key LIMIT ${limit + 1}`;
    const more = rows.length > limit;
    const messages = rows.slice(0, limit).map(toMessage);
    return { messages, newest: await this.#newest(q), more };
  }

  async newestPage(q: QueueRef, after: number, limit: number): Promise<Page> {
    await this.#ready();
    const rows = await this.#sql<Row[]>`
      ${this.#sql.unsafe(ENTRY)}
      WHERE e.appid = ${q.appid} AND e.kind = ${q.kind} AND e.owner = ${q.owner} AND e.key > ${after} ORDER BY e.key DESC LIMIT ${limit}`;
    return { messages: rows.map(toMessage).reverse(), newest: await this.#newest(q), more: false };
  }

  async nthNewest(q: QueueRef, after: number, n: number): Promise<number> {
    await this.#ready();
    const rows = await this.#sql<Row[]>`
      SELECT key FROM im_entries WHERE appid = ${q.appid} AND kind = ${q.kind} AND owner = ${q.owner} AND key > ${after}
      ORDER BY key DESC LIMIT 1 OFFSET ${n - 1}`;
    return rows.length === 0 ? 0 : num(rows[0]!.key);
  }

  async latest(appid: number, uid: number, cmds: readonly number[], limit: number): Promise<StoredMessage[]> {
    await this.#ready();
    const rows = await this.#sql<Row[]>`
      ${this.#sql.unsafe(ENTRY)}
      WHERE e.appid = ${appid} AND e.kind = 0 AND e.owner = ${uid} AND b.cmd IN ${this.#sql(cmds as number[])} ORDER BY e.key DESC LIMIT ${limit}`;
    return rows.map(toMessage).reverse();
  }

  async acked(appid: number, uid: number, gid: number): Promise<number> {
    await this.#ready();
    const rows = await this.#sql<Row[]>`SELECT key FROM im_acked_keys WHERE appid = ${appid} AND uid = ${uid} AND gid = ${gid}`;
    return rows.length === 0 ? 0 : num(rows[0]!.key);
  }

  async ack(appid: number, uid: number, gid: number, key: number): Promise<void> {
    await this.#ready();
    await this.#sql`
      INSERT INTO im_acked_keys (appid, uid, gid, key) VALUES (${appid}, ${uid}, ${gid}, ${key})
      ON CONFLICT (appid, uid, gid) DO UPDATE SET key = greatest(im_acked_keys.key, excluded.key)`;
  }

  async countAfter(appid: number, uid: number, after: number): Promise<number> {
    await this.#ready();
    const rows = await this.#sql<Row[]>`SELECT count(*) AS n FROM im_entries WHERE appid = ${appid} AND kind = 0 AND owner = ${uid} AND key > ${after}`;
    return num(rows[0]!.n);
  }

  async sweep(beforeMs: number, max: number): Promise<number> {
    await this.#ready();
    // The oldest bodies, their entries with them: no body is left that no queue refers to.
    const [r] = await this.#sql<Row[]>`
      WITH old AS (SELECT id FROM im_bodies WHERE saved_at < ${beforeMs} ORDER BY saved_at LIMIT ${max}),
      entries AS (DELETE FROM im_entries WHERE body_id IN (SELECT id FROM old) RETURNING 1),
      bodies AS (DELETE FROM im_bodies WHERE id IN (SELECT id FROM old))
      SELECT count(*) AS n FROM entries`;
    return num(r!.n);
  }

  async importMessages(items: ImportedMessage[]): Promise<number> {
    if (items.length === 0) return 0;
    const newest = new Map<string, { appid: number; kind: number; owner: number; last_key: number }>();
    for (const it of items) {
      const q = newest.get(qid(it));
      if (q === undefined) newest.set(qid(it), { appid: it.appid, kind: it.kind, owner: it.owner, last_key: it.key });
      else if (q.last_key < it.key) q.last_key = it.key;
    }
    const queues = [...newest.values()].sort((a, b) => a.appid - b.appid || a.kind - b.kind || a.owner - b.owner);
    const blob = blobOf(items.map((it) => it.body));
    const col = <T>(f: (it: ImportedMessage) => T) => items.map(f);
    await this.#ready();
    try {
      return await this.#sql.begin(async (tx) => {
        await tx`
          INSERT INTO im_queues ${tx(queues, 'appid', 'kind', 'owner', 'last_key')}
          ON CONFLICT (appid, kind, owner) DO UPDATE SET last_key = greatest(im_queues.last_key, excluded.last_key)`;
        // A queue entry already there (a second run with --force) is kept as it is.
        const [r] = await tx<Row[]>`
          WITH fresh AS (
            SELECT nextval('im_body_ids') AS id, x.* FROM unnest(${col((it) => it.appid)}::bigint[], ${col((it) => it.kind)}::smallint[],
              ${col((it) => it.owner)}::bigint[], ${col((it) => it.key)}::bigint[], ${col((it) => it.deviceId)}::bigint[], ${col((it) => it.cmd)}::smallint[],
              ${blob.offs}::int[], ${blob.lens}::int[], ${col((it) => it.savedAt)}::bigint[]) AS x(appid, kind, owner, key, device_id, cmd, off, len, saved_at)
            WHERE NOT EXISTS (SELECT 1 FROM im_entries e WHERE e.appid = x.appid AND e.kind = x.kind AND e.owner = x.owner AND e.key = x.key)),
          bodies AS (
            INSERT INTO im_bodies (id, device_id, cmd, body, saved_at)
            SELECT id, device_id, cmd, substring(${blob.bytes}::bytea from off + 1 for len), saved_at FROM fresh),
          entries AS (
            INSERT INTO im_entries (appid, kind, owner, key, body_id) SELECT appid, kind, owner, key, id FROM fresh
            ON CONFLICT DO NOTHING RETURNING 1)
          SELECT count(*) AS n FROM entries`;
        return num(r!.n);
      });
    } catch (err) {
      throw new StoreError('ERR_STORE_WRITE', `importing ${items.length} messages failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async importAcked(keys: AckedKey[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#ready();
    await this.#sql.begin(async (tx) => {
      for (let i = 0; i < keys.length; i += 1000) {
        await tx`
          INSERT INTO im_acked_keys ${tx(keys.slice(i, i + 1000), 'appid', 'uid', 'gid', 'key')}
          ON CONFLICT (appid, uid, gid) DO UPDATE SET key = greatest(im_acked_keys.key, excluded.key)`;
      }
    });
  }

  async occupied(queues: QueueRef[]): Promise<QueueRef[]> {
    if (queues.length === 0) return [];
    await this.#ready();
    const rows = await this.#sql<Row[]>`
      SELECT q.appid, q.kind, q.owner FROM im_queues q
      JOIN unnest(${queues.map((x) => x.appid)}::bigint[], ${queues.map((x) => x.kind)}::smallint[], ${queues.map((x) => x.owner)}::bigint[]) AS t(appid, kind, owner)
        ON q.appid = t.appid AND q.kind = t.kind AND q.owner = t.owner`;
    return rows.map((r) => ({ appid: num(r.appid), kind: num(r.kind) as QueueRef['kind'], owner: num(r.owner) }));
  }

  async ping(): Promise<void> {
    await this.#sql`SELECT 1`;
  }

  async backup(): Promise<number> {
    throw new StoreError('ERR_STORE_BACKUP', 'the PostgreSQL store is backed up with PostgreSQL\'s own tools: pg_dump, or a base backup with WAL archiving');
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 2 });
  }

  async #newest(q: QueueRef): Promise<number> {
    const rows = await this.#sql<Row[]>`SELECT last_key FROM im_queues WHERE appid = ${q.appid} AND kind = ${q.kind} AND owner = ${q.owner}`;
    return rows.length === 0 ? 0 : num(rows[0]!.last_key);
  }
}

/**
 * A batch as the save statement takes it: column arrays, no object per row. Queues in one
 * sorted order (two servers' batches then lock their rows in the same order and cannot
 * deadlock); each message names its queue (1-based) and its place among that queue's
 * messages of the batch.
 */
function batchOf(items: readonly SaveItem[]) {
  const byQueue = new Map<string, number>();
  const refs: QueueRef[] = [];
  for (const it of items) {
    const id = qid(it);
    if (!byQueue.has(id)) {
      byQueue.set(id, refs.length);
      refs.push(it);
    }
  }
  const order = refs.map((_, i) => i).sort((x, y) => refs[x]!.appid - refs[y]!.appid || refs[x]!.kind - refs[y]!.kind || refs[x]!.owner - refs[y]!.owner);
  const rank = new Array<number>(refs.length);
  order.forEach((r, i) => { rank[r] = i; });
  const counts = new Array<number>(refs.length).fill(0);
  const queue: number[] = [], ord: number[] = [];
  for (const it of items) {
    const r = rank[byQueue.get(qid(it))!]!;
    queue.push(r + 1);
    ord.push(++counts[r]!);
  }
  const sorted = order.map((i) => refs[i]!);
  return {
    appids: sorted.map((q) => q.appid), kinds: sorted.map((q) => q.kind), owners: sorted.map((q) => q.owner),
    counts,
    queue, ord,
  };
}

/** Bodies as one bytea parameter, each found by its offset and length (0-based). */
function blobOf(bodies: readonly Uint8Array[]): { bytes: Buffer; offs: number[]; lens: number[] } {
  const offs: number[] = [];
  const lens: number[] = [];
  let size = 0;
  for (const b of bodies) {
    offs.push(size);
    lens.push(b.length);
    size += b.length;
  }
  return { bytes: Buffer.concat(bodies, size), offs, lens };
}

/** A sender's lane: the same sender always the same lane (a small integer hash of appid and uid). */
function laneOf(appid: number, sender: number, lanes: number): number {
  const h = (Math.imul(appid | 0, 0x9e3779b1) ^ Math.imul(sender | 0, 0x85ebca6b) ^ Math.floor(sender / 4294967296)) >>> 0;
  return h % lanes;
}

function toMessage(r: Row): StoredMessage {
  return { key: num(r.key), deviceId: num(r.device_id), cmd: num(r.cmd), body: r.body as Uint8Array };
}
