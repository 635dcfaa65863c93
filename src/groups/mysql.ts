import type mysql from 'mysql2/promise';
import { createRequire } from 'node:module';
import type { Group, GroupSource, NewGroup } from './source.ts';

type Row = Record<string, unknown>;
const num = (v: unknown) => Number(v);

/** GoBelieve's MySQL/MariaDB database, used as it is (tables `group` and `group_member`). */
export class MysqlGroupSource implements GroupSource {
  readonly #pool: mysql.Pool;

  constructor(url: string) {
    // Required here, not imported: a server without MySQL does not pay ~3 MiB of heap for it.
    this.#pool = (createRequire(import.meta.url)('mysql2/promise') as typeof mysql).createPool({ uri: url, connectionLimit: 4, supportBigNumbers: true, bigNumberStrings: false });
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async load(appid: number, id: number): Promise<Group | null> {
    const [groups] = await this.#pool.query('SELECT id, appid, master, super FROM `group` WHERE id = ? AND appid = ? AND deleted = 0', [id, appid]);
    const g = (groups as Row[])[0];
    if (g === undefined) return null;
    const [rows] = await this.#pool.query('SELECT uid, mute FROM group_member WHERE group_id = ? AND deleted = 0', [id]);
    return { id, appid, master: num(g.master), super: num(g.super) !== 0, members: new Map((rows as Row[]).map((r) => [num(r.uid), num(r.mute) !== 0])) };
  }

  async create(g: NewGroup): Promise<number> {
    const conn = await this.#pool.getConnection();
    try {
      await conn.beginTransaction();
      const [r] = await conn.query('INSERT INTO `group` (appid, master, super, name, notice, deleted) VALUES (?, ?, ?, ?, ?, 0)',
        [g.appid, g.master, g.super ? 1 : 0, g.name, g.notice]);
      const id = (r as mysql.ResultSetHeader).insertId;
      await this.#upsertMembers(conn, id, g.members);
      await conn.commit();
      return id;
    } catch (err) {
      await conn.rollback();
      throw err;
    } finally {
      conn.release();
    }
  }

  async disband(appid: number, id: number): Promise<boolean> {
    if (!(await this.#exists(appid, id))) return false;
    await this.#pool.query('UPDATE `group` SET deleted = 1 WHERE id = ?', [id]);
    await this.#pool.query('UPDATE group_member SET deleted = 1 WHERE group_id = ?', [id]);
    return true;
  }

  async addMembers(appid: number, id: number, uids: number[]): Promise<boolean> {
    if (!(await this.#exists(appid, id))) return false;
    await this.#upsertMembers(this.#pool, id, uids);
    return true;
  }

  async removeMembers(appid: number, id: number, uids: number[]): Promise<boolean> {
    if (!(await this.#exists(appid, id))) return false;
    if (uids.length > 0) await this.#pool.query('UPDATE group_member SET deleted = 1 WHERE group_id = ? AND uid IN (?)', [id, uids]);
    return true;
  }

  async setMute(appid: number, id: number, uid: number, mute: boolean): Promise<boolean> {
    if (!(await this.#exists(appid, id))) return false;
    await this.#pool.query('UPDATE group_member SET mute = ? WHERE group_id = ? AND uid = ?', [mute ? 1 : 0, id, uid]);
    return true;
  }

  async upgrade(appid: number, id: number): Promise<boolean> {
    if (!(await this.#exists(appid, id))) return false;
    await this.#pool.query('UPDATE `group` SET super = 1 WHERE id = ?', [id]);
    return true;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  async #exists(appid: number, id: number): Promise<boolean> {
    const [rows] = await this.#pool.query('SELECT 1 FROM `group` WHERE id = ? AND appid = ? AND deleted = 0', [id, appid]);
    return (rows as Row[]).length > 0;
  }

  async #upsertMembers(q: mysql.Pool | mysql.PoolConnection, id: number, uids: number[]): Promise<void> {
    if (uids.length === 0) return;
    const now = Math.floor(Date.now() / 1000);
    await q.query('INSERT INTO group_member (group_id, uid, timestamp, mute, deleted) VALUES ? ON DUPLICATE KEY UPDATE deleted = 0, mute = 0, timestamp = VALUES(timestamp)',
      [uids.map((uid) => [id, uid, now, 0, 0])]);
  }
}
