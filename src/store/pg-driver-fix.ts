/**
 * Fixes a defect of the PostgreSQL driver (`postgres` 3.4.x, still open upstream as of 3.4.9)
 * in node_modules, at install time (`npm install` / `npm ci` run it through `prepare`).
 *
 * The driver defers writes under 1 KiB to a setImmediate. When the server drops the
 * connection in the middle of a transaction, `sql.begin()` sends its own ROLLBACK after the
 * connection's socket was already set to null: the deferred write then throws from the
 * Immediate (`Cannot read properties of null (reading 'write')`), where no caller can catch
 * it, and the whole thread dies. And a connection closed with a write pending keeps a stale
 * timer handle, so after it reconnects its small writes are never flushed again. The fix:
 * a query handed to a connection with no socket fails at once (CONNECTION_CLOSED), a
 * deferred write that finds no socket is dropped, and a close resets the pending write and
 * the reply state of what it failed. test/store/pg-faults.test.ts reproduces both.
 *
 * Each edit is applied only where the driver's text is exactly what it fixes; a driver
 * that already carries a guard is left alone; anything else is reported, and the store
 * says so at start-up (PostgresStore.open).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';

const MARK = '/* gobelieve-router: write guard */';

const EDITS: [string, string][] = [
  // A query handed to a connection whose socket is gone (a transaction's own ROLLBACK after
  // the server dropped it) fails at once. It answers true ("not full"): a false answer makes
  // the pool move the closed connection to its full queue, where it is never used again,
  // and a pool that has lost every connection that way never answers another query.
  [
    "  function execute(q) {\n    if (terminated)\n      return queryError(q, Errors.connection('CONNECTION_DESTROYED', options))\n",
    `  function execute(q) {\n    if (terminated)\n      return queryError(q, Errors.connection('CONNECTION_DESTROYED', options))\n    ${MARK}\n    if (socket === null)\n      return queryError(q, Errors.connection('CONNECTION_CLOSED', options)), true\n`,
  ],
  [
    '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    '  function nextWrite(fn) {\n    if (socket === null) {\n      chunk = nextWriteTimer = null\n      return false\n    }\n    const x = socket.write(chunk, fn)',
  ],
  [
    '    clearImmediate(nextWriteTimer)\n    if (socket) {',
    '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {',
  ],
  // What was in flight when the connection closed has been failed by now; a reply that
  // never finished (an ErrorResponse without its ReadyForQuery) must not be taken for the
  // answer to the first query after the reconnect, nor keep that query waiting behind it.
  [
    "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n",
    "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n    query = results = errorResponse = null\n",
  ],
  [
    '    incomings = null\n    clearImmediate(nextWriteTimer)\n    socket.removeListener',
    '    incomings = null\n    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener',
  ],
];

/** The driver's connection module in each of its builds (ESM, CommonJS, Cloudflare). */
export function driverFiles(): string[] {
  const entry = createRequire(import.meta.url).resolve('postgres');
  const root = join(entry.slice(0, entry.lastIndexOf(`${sep}postgres${sep}`)), 'postgres');
  return ['src', 'cjs/src', 'cf/src'].map((d) => join(root, d, 'connection.js')).filter((f) => existsSync(f));
}

export type PatchState = 'patched' | 'applied' | 'unknown';

/** Applies the edits to one file (unless `check`); says whether it is now guarded. */
export function patchFile(file: string, check = false): PatchState {
  let text = readFileSync(file, 'utf8');
  if (text.includes(MARK)) return 'patched';
  if (check || !EDITS.every(([from]) => text.includes(from))) return 'unknown';
  for (const [from, to] of EDITS) text = text.replace(from, to);
  writeFileSync(file, text);
  return 'applied';
}

/** Whether the driver this process loads carries the fix. */
export function driverGuarded(): boolean {
  try {
    return driverFiles().every((f) => readFileSync(f, 'utf8').includes(MARK));
  } catch {
    return false;
  }
}
