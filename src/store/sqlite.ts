import { DatabaseSync, backup, type StatementSync } from 'node:sqlite';
import { createPrivate } from './files.ts';
import { StoreError, type AckedKey, type ImportTarget, type ImportedMessage, type Page, type QueueRef, type SaveItem, type Saved, type StoreEngine, type StoredMessage } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queues (
  appid INTEGER NOT NULL, kind INTEGER NOT NULL, owner INTEGER NOT NULL,
  last_key INTEGER NOT NULL, PRIMARY KEY (appid, kind, owner)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY, appid INTEGER NOT NULL, kind INTEGER NOT NULL, owner INTEGER NOT NULL, key INTEGER NOT NULL,
  device_id INTEGER NOT NULL, cmd INTEGER NOT NULL, body BLOB NOT NULL, saved_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS messages_queue ON messages (appid, kind, owner, key);
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
const qid = (q: QueueRef) => `${q.appid}:${q.kind}:${q.owner}`;

/**
 * The embedded engine: one SQLite file in WAL mode, written by the store thread alone.
 * Messages live in a rowid table (appended in save order) with a unique index on the queue
 * key: 3.3× the insert rate of a table keyed by the queue key itself, whose rows (bodies
 * included) would be placed all over the B-tree (measured: 104 k vs 31 k rows/s).
 * Being the only writer, it keeps each queue's last key in memory (read from the file on
 * first use) and hands keys out in save order; a batch is one transaction.
 *
 * Durability: synchronous=NORMAL in WAL mode. A commit survives a crash of the process at
 * once; the operating system writes it to disk at the next checkpoint or within its own
 * write-back delay, so a host crash may lose the last moments of commits.
 */
export class SqliteStore implements StoreEngine, ImportTarget {
  readonly #db: DatabaseSync;
  readonly #last = new Map<string, number>();
  readonly #readLast: StatementSync;
  readonly #writeLast: StatementSync;
  readonly #insert: StatementSync;
  readonly #insertMany: StatementSync;
  readonly #page: StatementSync;
  readonly #newestPage: StatementSync;
  readonly #count: StatementSync;
  readonly #nthNewest: StatementSync;
  readonly #acked: StatementSync;
  readonly #ack: StatementSync;
  readonly #oldest: StatementSync;
  readonly #sweep: StatementSync;

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
    db.exec('BEGIN IMMEDIATE');
    db.exec('COMMIT');
    this.#readLast = db.prepare('SELECT last_key FROM queues WHERE appid = ? AND kind = ? AND owner = ?');
    this.#writeLast = db.prepare('INSERT INTO queues (appid, kind, owner, last_key) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET last_key = excluded.last_key');
    const insert = 'INSERT INTO messages (appid, kind, owner, key, device_id, cmd, body, saved_at) VALUES ';
    this.#insert = db.prepare(`${insert}(?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#insertMany = db.prepare(insert + Array.from({ length: ROWS_PER_INSERT }, () => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', '));
    this.#page = db.prepare('SELECT key, device_id, cmd, body FROM messages WHERE appid = ? AND kind = ? AND owner = ? AND key > ? ORDER BY key LIMIT ?');
    this.#newestPage = db.prepare('SELECT key, device_id, cmd, body FROM messages WHERE appid = ? AND kind = ? AND owner = ? AND key > ? ORDER BY key DESC LIMIT ?');
    this.#nthNewest = db.prepare('SELECT key FROM messages WHERE appid = ? AND kind = ? AND owner = ? AND key > ? ORDER BY key DESC LIMIT 1 OFFSET ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM messages WHERE appid = ? AND kind = 0 AND owner = ? AND key > ?');
    this.#acked = db.prepare('SELECT key FROM acked_keys WHERE appid = ? AND uid = ? AND gid = ?');
    this.#ack = db.prepare('INSERT INTO acked_keys (appid, uid, gid, key) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET key = max(key, excluded.key)');
    // Rows are appended in save order (rowid): the oldest are the first ids, and a sweep
    // looks only at the next `max` of them, never at the whole table.
    this.#oldest = db.prepare('SELECT id, saved_at FROM messages ORDER BY id LIMIT 1');
    this.#sweep = db.prepare('DELETE FROM messages WHERE id >= ? AND id < ? AND saved_at < ?');
  }

  async save(items: SaveItem[]): Promise<Saved[]> {
    const db = this.#db;
    const now = Date.now();
    const touched = new Map<string, [QueueRef, number]>();
    const out: Saved[] = new Array(items.length);
    // Shared: the write lock from the first statement on, and each queue's last key read
    // under it, so two servers never hand out the same key.
    db.exec(this.#shared ? 'BEGIN IMMEDIATE' : 'BEGIN');
    try {
      const row: (number | Uint8Array)[] = [];
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        const id = qid(it);
        const prev = touched.get(id)?.[1] ?? this.#lastOf(id, it);
        const key = prev + 1;
        row.push(it.appid, it.kind, it.owner, key, it.deviceId, it.cmd, it.body, now);
        if (row.length === 8 * ROWS_PER_INSERT) {
          this.#insertMany.run(...row);
          row.length = 0;
        }
        touched.set(id, [it, key]);
        out[i] = { key, prev };
      }
      for (let p = 0; p < row.length; p += 8) this.#insert.run(...row.slice(p, p + 8));
      for (const [q, key] of touched.values()) this.#writeLast.run(q.appid, q.kind, q.owner, key);
      db.exec('COMMIT');
    } catch (err) {
      try { db.exec('ROLLBACK'); } catch { /* already rolled back */ }
      // Keys handed out in memory were not committed: read them from the file again.
      for (const id of touched.keys()) this.#last.delete(id);
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
      `SELECT key, device_id, cmd, body FROM messages WHERE appid = ? AND kind = 0 AND owner = ? AND cmd IN (${cmds.map(() => '?').join(',')}) ORDER BY key DESC LIMIT ?`,
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
    return num(this.#sweep.run(num(first.id), num(first.id) + max, beforeMs).changes);
  }

  async importMessages(items: ImportedMessage[]): Promise<number> {
    const db = this.#db;
    const insert = db.prepare('INSERT OR IGNORE INTO messages (appid, kind, owner, key, device_id, cmd, body, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const raise = db.prepare('INSERT INTO queues (appid, kind, owner, last_key) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET last_key = max(last_key, excluded.last_key)');
    const newest = new Map<string, [QueueRef, number]>();
    let written = 0;
    this.#inTransaction(`importing ${items.length} messages`, () => {
      for (const it of items) {
        written += Number(insert.run(it.appid, it.kind, it.owner, it.key, it.deviceId, it.cmd, it.body, it.savedAt).changes);
        const id = qid(it);
        if ((newest.get(id)?.[1] ?? 0) < it.key) newest.set(id, [it, it.key]);
      }
      for (const [q, key] of newest.values()) raise.run(q.appid, q.kind, q.owner, key);
    });
    for (const id of newest.keys()) this.#last.delete(id);
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
