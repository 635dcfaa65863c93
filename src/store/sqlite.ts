import { DatabaseSync, backup, type StatementSync } from 'node:sqlite';
import { createPrivate } from './files.ts';
import { uniqueBodies } from './bodies.ts';
import { StoreError, type AckedKey, type ImportTarget, type ImportedMessage, type Page, type QueueRef, type SaveItem, type Saved, type StoreEngine, type StoredMessage } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queues (
  appid INTEGER NOT NULL, kind INTEGER NOT NULL, owner INTEGER NOT NULL,
  last_key INTEGER NOT NULL, PRIMARY KEY (appid, kind, owner)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bodies (
  id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL, cmd INTEGER NOT NULL, body BLOB NOT NULL, saved_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  appid INTEGER NOT NULL, kind INTEGER NOT NULL, owner INTEGER NOT NULL, key INTEGER NOT NULL, body_id INTEGER NOT NULL,
  PRIMARY KEY (appid, kind, owner, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_body ON entries (body_id);
CREATE TABLE IF NOT EXISTS acked_keys (
  appid INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL, key INTEGER NOT NULL,
  PRIMARY KEY (appid, uid, gid)) WITHOUT ROWID;
`;

type Row = Record<string, number | bigint | Uint8Array | null>;
const num = (v: unknown) => Number(v);
const LAST_KEYS_CACHED = 100_000;
/** Long enough for a replaced store thread's lock to go, short enough to fail at once when another server holds it. */
const EXCLUSIVE_WAIT_MS = 1000;
/** Rows per INSERT statement: 1.29× the rows/s of one per statement (measured, 100-byte bodies). */
const ROWS_PER_INSERT = 16;
const ENTRY = 'SELECT e.key, b.device_id, b.cmd, b.body FROM entries e JOIN bodies b ON b.id = e.body_id';
const qid = (q: QueueRef) => `${q.appid}:${q.kind}:${q.owner}`;

/**
 * The embedded engine: one SQLite file in WAL mode, written by the store thread alone.
 * A message is stored once (`bodies`, appended in save order: the large rows never land
 * all over a B-tree) and each queue that holds it has a small entry keyed by the queue and
 * key (`entries`): a peer IM is one body and two entries, a normal group's message one body
 * and an entry per member. Being the only writer, it keeps each queue's last key and the
 * next body id in memory (read from the file on first use) and hands them out in save
 * order; a batch is one transaction.
 *
 * Durability: synchronous=NORMAL in WAL mode. A commit survives a crash of the process at
 * once; the operating system writes it to disk at the next checkpoint or within its own
 * write-back delay, so a host crash may lose the last moments of commits.
 */
export class SqliteStore implements StoreEngine, ImportTarget {
  readonly #db: DatabaseSync;
  readonly #last = new Map<string, number>();
  readonly #readLast: StatementSync;
  readonly #lastKeys: Rows;
  readonly #bodies: Rows;
  readonly #entries: Rows;
  readonly #maxBody: StatementSync;
  /** The next body id (exclusive mode): read from the file on first use. */
  #nextBody: number | undefined;
  readonly #page: StatementSync;
  readonly #newestPage: StatementSync;
  readonly #count: StatementSync;
  readonly #nthNewest: StatementSync;
  readonly #acked: StatementSync;
  readonly #ack: StatementSync;
  readonly #oldest: StatementSync;
  readonly #sweepEntries: StatementSync;
  readonly #sweepBodies: StatementSync;

  /** Messages moved from the layout before bodies were stored once (0: none), at open. */
  readonly migrated: number;

  /** Other processes write the same file (IM_STORE_SHARED): keys are read inside each write transaction. */
  readonly #shared: boolean;

  constructor(file: string, o: { shared?: boolean } = {}) {
    this.#shared = o.shared === true;
    if (file !== ':memory:') createPrivate(file);
    // Exclusive: a second server on the file fails at once (it would wait for a lock that is
    // never given back). Shared: writers queue for the lock, each transaction a few ms.
    const db = new DatabaseSync(file, { timeout: this.#shared ? 10_000 : EXCLUSIVE_WAIT_MS });
    this.#db = db;
    // Alone, this process hands out keys from memory: no other may write the file meanwhile.
    if (!this.#shared) db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA cache_size = -65536');
    db.exec(SCHEMA);
    // Its write transaction also takes the file's lock (held from then on when exclusive).
    this.migrated = migrate(db);
    this.#readLast = db.prepare('SELECT last_key FROM queues WHERE appid = ? AND kind = ? AND owner = ?');
    this.#lastKeys = new Rows(db, 'INSERT INTO queues (appid, kind, owner, last_key) VALUES', 4, 'ON CONFLICT DO UPDATE SET last_key = excluded.last_key');
    this.#bodies = new Rows(db, 'INSERT INTO bodies (id, device_id, cmd, body, saved_at) VALUES', 5);
    this.#entries = new Rows(db, 'INSERT INTO entries (appid, kind, owner, key, body_id) VALUES', 5);
    this.#maxBody = db.prepare('SELECT coalesce(max(id), 0) AS n FROM bodies');
    this.#page = db.prepare(`${ENTRY} WHERE e.appid = ? AND e.kind = ? AND e.owner = ? AND e.key > ? ORDER BY e.key LIMIT ?`);
    this.#newestPage = db.prepare(`${ENTRY} WHERE e.appid = ? AND e.kind = ? AND e.owner = ? AND e.key > ? ORDER BY e.key DESC LIMIT ?`);
    this.#nthNewest = db.prepare('SELECT key FROM entries WHERE appid = ? AND kind = ? AND owner = ? AND key > ? ORDER BY key DESC LIMIT 1 OFFSET ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM entries WHERE appid = ? AND kind = 0 AND owner = ? AND key > ?');
    this.#acked = db.prepare('SELECT key FROM acked_keys WHERE appid = ? AND uid = ? AND gid = ?');
    this.#ack = db.prepare('INSERT INTO acked_keys (appid, uid, gid, key) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET key = max(key, excluded.key)');
    // Bodies are appended in save order: the oldest are the first ids, and a sweep looks
    // only at the next `max` of them, never at the whole table; their entries go first.
    this.#oldest = db.prepare('SELECT id, saved_at FROM bodies ORDER BY id LIMIT 1');
    const old = 'SELECT id FROM bodies WHERE id >= ? AND id < ? AND saved_at < ?';
    this.#sweepEntries = db.prepare(`DELETE FROM entries WHERE body_id IN (${old})`);
    this.#sweepBodies = db.prepare(`DELETE FROM bodies WHERE id IN (${old})`);
  }

  async save(items: SaveItem[]): Promise<Saved[]> {
    const db = this.#db;
    const now = Date.now();
    const touched = new Map<string, [QueueRef, number]>();
    const out: Saved[] = new Array(items.length);
    const { bodies, of } = uniqueBodies(items);
    // Shared: the write lock from the first statement on, and each queue's last key (and
    // the last body id) read under it, so two servers never hand out the same one.
    db.exec(this.#shared ? 'BEGIN IMMEDIATE' : 'BEGIN');
    try {
      const first = this.#shared || this.#nextBody === undefined ? num((this.#maxBody.get() as Row).n) + 1 : this.#nextBody;
      for (let j = 0; j < bodies.length; j++) {
        const b = bodies[j]!;
        this.#bodies.add(first + j, b.deviceId, b.cmd, b.body, now);
      }
      this.#bodies.end();
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        const id = qid(it);
        const prev = touched.get(id)?.[1] ?? this.#lastOf(id, it);
        const key = prev + 1;
        this.#entries.add(it.appid, it.kind, it.owner, key, first + of[i]!);
        touched.set(id, [it, key]);
        out[i] = { key, prev };
      }
      this.#entries.end();
      for (const [q, key] of touched.values()) this.#lastKeys.add(q.appid, q.kind, q.owner, key);
      this.#lastKeys.end();
      db.exec('COMMIT');
      this.#nextBody = first + bodies.length;
    } catch (err) {
      try { db.exec('ROLLBACK'); } catch { /* already rolled back */ }
      this.#clearRows();
      // Keys and ids handed out in memory were not committed: read them from the file again.
      for (const id of touched.keys()) this.#last.delete(id);
      this.#nextBody = undefined;
      throw new StoreError('ERR_STORE_WRITE', `saving ${items.length} messages failed: ${(err as Error).message}`, { cause: err });
    }
    for (const [id, [, key]] of touched) this.#last.set(id, key);
    return out;
  }

  async page(q: QueueRef, after: number, limit: number): Promise<Page> {
    const rows = this.#page.all(q.appid, q.kind, q.owner, after, limit + 1) as Row[];
    const more = rows.length > limit;
    if (more) rows.pop();
    return { messages: rows.map(toMessage), newest: this.#lastOf(qid(q), q), more };
  }

  async newestPage(q: QueueRef, after: number, limit: number): Promise<Page> {
    const rows = this.#newestPage.all(q.appid, q.kind, q.owner, after, limit) as Row[];
    return { messages: rows.map(toMessage).reverse(), newest: this.#lastOf(qid(q), q), more: false };
  }

  async nthNewest(q: QueueRef, after: number, n: number): Promise<number> {
    const r = this.#nthNewest.get(q.appid, q.kind, q.owner, after, n - 1) as Row | undefined;
    return r === undefined ? 0 : num(r.key);
  }

  async latest(appid: number, uid: number, cmds: readonly number[], limit: number): Promise<StoredMessage[]> {
    const rows = this.#db.prepare(
      `${ENTRY} WHERE e.appid = ? AND e.kind = 0 AND e.owner = ? AND b.cmd IN (${cmds.map(() => '?').join(',')}) ORDER BY e.key DESC LIMIT ?`,
    ).all(appid, uid, ...cmds, limit) as Row[];
    return rows.map(toMessage).reverse();
  }

  async acked(appid: number, uid: number, gid: number): Promise<number> {
    const r = this.#acked.get(appid, uid, gid) as Row | undefined;
    return r === undefined ? 0 : num(r.key);
  }

  async ack(appid: number, uid: number, gid: number, key: number): Promise<void> {
    this.#ack.run(appid, uid, gid, key);
  }

  async countAfter(appid: number, uid: number, after: number): Promise<number> {
    return num((this.#count.get(appid, uid, after) as Row).n);
  }

  async sweep(beforeMs: number, max: number): Promise<number> {
    const first = this.#oldest.get() as Row | undefined;
    if (first === undefined || num(first.saved_at) >= beforeMs) return 0;
    const from = num(first.id);
    let deleted = 0;
    this.#inTransaction('sweeping old messages', () => {
      deleted = num(this.#sweepEntries.run(from, from + max, beforeMs).changes);
      this.#sweepBodies.run(from, from + max, beforeMs);
    });
    return deleted;
  }

  async importMessages(items: ImportedMessage[]): Promise<number> {
    const db = this.#db;
    const entry = db.prepare('INSERT OR IGNORE INTO entries (appid, kind, owner, key, body_id) VALUES (?, ?, ?, ?, ?)');
    const raise = db.prepare('INSERT INTO queues (appid, kind, owner, last_key) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET last_key = max(last_key, excluded.last_key)');
    const newest = new Map<string, [QueueRef, number]>();
    let written = 0;
    this.#inTransaction(`importing ${items.length} messages`, () => {
      let next = num((this.#maxBody.get() as Row).n) + 1;
      for (const it of items) {
        // A queue entry already there (a second run with --force) is kept as it is.
        if (entry.run(it.appid, it.kind, it.owner, it.key, next).changes === 1) {
          this.#bodies.add(next++, it.deviceId, it.cmd, it.body, it.savedAt);
          written++;
        }
        const id = qid(it);
        if ((newest.get(id)?.[1] ?? 0) < it.key) newest.set(id, [it, it.key]);
      }
      this.#bodies.end();
      for (const [q, key] of newest.values()) raise.run(q.appid, q.kind, q.owner, key);
    });
    for (const id of newest.keys()) this.#last.delete(id);
    this.#nextBody = undefined;
    return written;
  }

  async importAcked(keys: AckedKey[]): Promise<void> {
    this.#inTransaction(`importing ${keys.length} acknowledged keys`, () => {
      for (const k of keys) this.#ack.run(k.appid, k.uid, k.gid, k.key);
    });
  }

  async occupied(queues: QueueRef[]): Promise<QueueRef[]> {
    return queues.filter((q) => this.#readLast.get(q.appid, q.kind, q.owner) !== undefined);
  }

  #inTransaction(what: string, fn: () => void): void {
    this.#db.exec('BEGIN');
    try {
      fn();
      this.#db.exec('COMMIT');
    } catch (err) {
      try { this.#db.exec('ROLLBACK'); } catch { /* already rolled back */ }
      this.#clearRows();
      throw new StoreError('ERR_STORE_WRITE', `${what} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async backup(file: string): Promise<number> {
    // Copying a live WAL database file is no backup: SQLite's backup reads a consistent
    // snapshot, a few hundred pages at a time between the thread's other work.
    createPrivate(file, true);
    return backup(this.#db, file, { rate: 1000 });
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  #clearRows(): void {
    for (const r of [this.#bodies, this.#entries, this.#lastKeys]) r.clear();
  }

  #lastOf(id: string, q: QueueRef): number {
    let last = this.#shared ? undefined : this.#last.get(id);
    if (last === undefined) {
      // A cache, not a copy of the table: bounded, and refilled from the file on demand.
      if (this.#last.size >= LAST_KEYS_CACHED) this.#last.clear();
      const r = this.#readLast.get(q.appid, q.kind, q.owner) as Row | undefined;
      last = r === undefined ? 0 : num(r.last_key);
      this.#last.set(id, last);
    }
    return last;
  }
}

function toMessage(r: Row): StoredMessage {
  return { key: num(r.key), deviceId: num(r.device_id), cmd: num(r.cmd), body: r.body as Uint8Array };
}

type Value = number | Uint8Array;

/**
 * Rows for one table, written ROWS_PER_INSERT to a statement (what is left one by one at
 * end()): a statement's run costs more than the rows it carries.
 */
class Rows {
  readonly #one: StatementSync;
  readonly #many: StatementSync;
  readonly #columns: number;
  readonly #row: Value[] = [];

  constructor(db: DatabaseSync, insert: string, columns: number, onConflict = '') {
    const values = `(${Array.from({ length: columns }, () => '?').join(', ')})`;
    this.#one = db.prepare(`${insert} ${values} ${onConflict}`);
    this.#many = db.prepare(`${insert} ${Array.from({ length: ROWS_PER_INSERT }, () => values).join(', ')} ${onConflict}`);
    this.#columns = columns;
  }

  add(...values: Value[]): void {
    const row = this.#row;
    for (const v of values) row.push(v);
    if (row.length === this.#columns * ROWS_PER_INSERT) {
      this.#many.run(...row);
      row.length = 0;
    }
  }

  end(): void {
    const row = this.#row;
    for (let p = 0; p < row.length; p += this.#columns) this.#one.run(...row.slice(p, p + this.#columns));
    row.length = 0;
  }

  /** A failed transaction: what was waiting goes with it. */
  clear(): void {
    this.#row.length = 0;
  }
}

/**
 * A store written before bodies were kept once (one `messages` row per queue entry, body
 * included) becomes bodies and entries, each old row one body, in one transaction; ids,
 * keys and save times are kept. Returns the messages moved (0: nothing to migrate).
 */
function migrate(db: DatabaseSync): number {
  // Looked for under the write lock: servers sharing the file (IM_STORE_SHARED) may start together.
  db.exec('BEGIN IMMEDIATE');
  try {
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'").get() === undefined) {
      db.exec('COMMIT');
      return 0;
    }
    const n = num((db.prepare('SELECT count(*) AS n FROM messages').get() as Row).n);
    db.exec('INSERT INTO bodies (id, device_id, cmd, body, saved_at) SELECT id, device_id, cmd, body, saved_at FROM messages ORDER BY id');
    db.exec('INSERT INTO entries (appid, kind, owner, key, body_id) SELECT appid, kind, owner, key, id FROM messages');
    db.exec('DROP TABLE messages');
    db.exec('COMMIT');
    return n;
  } catch (err) {
    try { db.exec('ROLLBACK'); } catch { /* already rolled back */ }
    throw new StoreError('ERR_STORE_MIGRATE', `moving the store's messages to bodies and entries failed (nothing was changed): ${(err as Error).message}`, { cause: err });
  }
}
