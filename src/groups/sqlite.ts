import { DatabaseSync } from 'node:sqlite';
import { createPrivate } from '../store/files.ts';
import type { Group, GroupSource, NewGroup } from './source.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS "group" (
  id INTEGER PRIMARY KEY AUTOINCREMENT, appid INTEGER NOT NULL, master INTEGER NOT NULL,
  super INTEGER NOT NULL DEFAULT 0, name TEXT, notice TEXT, deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS group_member (
  group_id INTEGER NOT NULL, uid INTEGER NOT NULL, timestamp INTEGER, nickname TEXT,
  mute INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (group_id, uid));
`;

type Row = Record<string, number | bigint | string | null>;
/** Something to block on for a few milliseconds during start-up (Atomics.wait needs shared memory). */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
const num = (v: unknown) => Number(v);

/** The embedded group source: one SQLite file (created on first start), the same tables as GoBelieve's. */
export class SqliteGroupSource implements GroupSource {
  readonly #db: DatabaseSync;

  constructor(file: string) {
    if (file !== ':memory:') createPrivate(file);
    // Several access servers may share the file and start together. Ordinary locks wait
    // (busy timeout), but SQLite answers a concurrent switch to WAL with "locked" at once,
    // without waiting: retry it briefly (WAL, once set, stays set in the file).
    this.#db = new DatabaseSync(file, { timeout: 10_000 });
    for (let attempt = 0; ; attempt++) {
      try {
        const mode = (this.#db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode;
        if (mode !== 'wal') this.#db.exec('PRAGMA journal_mode = WAL');
        break;
      } catch (err) {
        if (attempt >= 200 || !/locked|busy/i.test(String(err))) throw err;
        Atomics.wait(PAUSE, 0, 0, 10 + Math.random() * 40);
      }
    }
    this.#db.exec(SCHEMA);
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async load(appid: number, id: number): Promise<Group | null> {
    const g = this.#db.prepare('SELECT id, appid, master, super FROM "group" WHERE id = ? AND appid = ? AND deleted = 0').get(id, appid) as Row | undefined;
    if (g === undefined) return null;
    const rows = this.#db.prepare('SELECT uid, mute FROM group_member WHERE group_id = ? AND deleted = 0').all(id) as Row[];
    return { id, appid, master: num(g.master), super: num(g.super) !== 0, members: new Map(rows.map((r) => [num(r.uid), num(r.mute) !== 0])) };
  }

  async create(g: NewGroup): Promise<number> {
    const db = this.#db;
    db.exec('BEGIN');
    try {
      const r = db.prepare('INSERT INTO "group" (appid, master, super, name, notice, deleted) VALUES (?, ?, ?, ?, ?, 0)')
        .run(g.appid, g.master, g.super ? 1 : 0, g.name, g.notice);
      const id = Number(r.lastInsertRowid);
      this.#upsertMembers(id, g.members);
      db.exec('COMMIT');
      return id;
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }

  async disband(appid: number, id: number): Promise<boolean> {
    if (!this.#exists(appid, id)) return false;
    this.#db.prepare('UPDATE "group" SET deleted = 1 WHERE id = ?').run(id);
    this.#db.prepare('UPDATE group_member SET deleted = 1 WHERE group_id = ?').run(id);
    return true;
  }

  async addMembers(appid: number, id: number, uids: number[]): Promise<boolean> {
    if (!this.#exists(appid, id)) return false;
    this.#upsertMembers(id, uids);
    return true;
  }

  async removeMembers(appid: number, id: number, uids: number[]): Promise<boolean> {
    if (!this.#exists(appid, id)) return false;
    const st = this.#db.prepare('UPDATE group_member SET deleted = 1 WHERE group_id = ? AND uid = ?');
    for (const uid of uids) st.run(id, uid);
    return true;
  }

  async setMute(appid: number, id: number, uid: number, mute: boolean): Promise<boolean> {
    if (!this.#exists(appid, id)) return false;
    this.#db.prepare('UPDATE group_member SET mute = ? WHERE group_id = ? AND uid = ?').run(mute ? 1 : 0, id, uid);
    return true;
  }

  async upgrade(appid: number, id: number): Promise<boolean> {
    if (!this.#exists(appid, id)) return false;
    this.#db.prepare('UPDATE "group" SET super = 1 WHERE id = ?').run(id);
    return true;
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  #exists(appid: number, id: number): boolean {
    return this.#db.prepare('SELECT 1 FROM "group" WHERE id = ? AND appid = ? AND deleted = 0').get(id, appid) !== undefined;
  }

  #upsertMembers(id: number, uids: number[]): void {
    const st = this.#db.prepare(`INSERT INTO group_member (group_id, uid, timestamp, mute, deleted) VALUES (?, ?, ?, 0, 0)
      ON CONFLICT (group_id, uid) DO UPDATE SET deleted = 0, mute = 0, timestamp = excluded.timestamp`);
    const now = Math.floor(Date.now() / 1000);
    for (const uid of uids) st.run(id, uid, now);
  }
}
