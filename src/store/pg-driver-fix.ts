/**
 * Whether the PostgreSQL driver this process loads carries the project's fix of a defect of
 * `postgres` 3.4.x (still open upstream as of 3.4.9), which `patches/postgres+3.4.9.patch`
 * applies at install (patch-package, run by `postinstall`; an install whose patch does not
 * apply fails).
 *
 * The driver defers writes under 1 KiB to a setImmediate. When the server drops the
 * connection in the middle of a transaction, `sql.begin()` sends its own ROLLBACK after the
 * connection's socket was already set to null: the deferred write then throws from the
 * Immediate (`Cannot read properties of null (reading 'write')`), where no caller can catch
 * it, and the whole thread dies. And a connection closed with a write pending keeps a stale
 * timer handle, so after it reconnects its small writes are never flushed again. The fix:
 * a query handed to a connection with no socket fails at once (CONNECTION_CLOSED), a
 * deferred write that finds no socket is dropped, and a close resets the pending write and
 * the reply state of what it failed. test/store/pg-faults.test.ts reproduces both. An
 * install that skipped scripts (`--ignore-scripts`) runs the driver as published: the store
 * says so at start-up (PostgresStore.open).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';

/** The line the patch puts in each build of the driver's connection module. */
const MARK = '/* gobelieve-router: write guard */';

/** The driver's connection module in each of its builds (ESM, CommonJS, Cloudflare). */
function driverFiles(): string[] {
  const entry = createRequire(import.meta.url).resolve('postgres');
  const root = join(entry.slice(0, entry.lastIndexOf(`${sep}postgres${sep}`)), 'postgres');
  return ['src', 'cjs/src', 'cf/src'].map((d) => join(root, d, 'connection.js')).filter((f) => existsSync(f));
}

/** Whether the driver this process loads carries the fix. */
export function driverGuarded(): boolean {
  try {
    const files = driverFiles();
    return files.length > 0 && files.every((f) => readFileSync(f, 'utf8').includes(MARK));
  } catch {
    return false;
  }
}
