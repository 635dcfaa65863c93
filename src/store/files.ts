import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { dirname } from 'node:path';

/**
 * The store's folder (0700) and file (0600), made before SQLite opens it: it holds every
 * message (or every group). SQLite gives its -wal and -shm files the database file's mode.
 */
export function createPrivate(file: string, fresh = false): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // fresh: a new file only (a backup never overwrites one).
  closeSync(openSync(file, fresh ? 'wx' : 'a', 0o600));
}

/**
 * Why another process keeps this one from writing the embedded store, or undefined: its
 * write lock is asked for once, waiting at most `waitMs` (longer than any transaction of a
 * server that shares the file holds it; a server that does not share it holds it for good),
 * and given back at once. Creates nothing.
 */
export function storeFileBusy(file: string, waitMs = 200): string | undefined {
  if (file === ':memory:' || !existsSync(file)) return undefined;
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(file, { timeout: waitMs });
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    db?.close();
  }
}
