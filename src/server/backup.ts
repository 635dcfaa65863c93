/**
 * `bin/im-backup FILE [--config im.cfg]`: a consistent copy of the embedded message store in
 * a new file, taken while the server runs (it asks the running server's HTTP API, which
 * holds the store) or, with no server running, from the file itself. Restore: stop the
 * server, put the copy in place of IM_STORE_DB (remove the old file's -wal and -shm), start
 * it. PostgreSQL stores are backed up with pg_dump. Exit 0 with one line, 2 with one line.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseSync, backup } from 'node:sqlite';
import { ConfigError } from '../config/env.ts';
import { loadConfig } from '../config/load.ts';
import { serverConfig, type ServerConfig } from '../config/server.ts';
import { createPrivate, storeFileBusy } from '../store/files.ts';

class BackupError extends Error {}

async function viaServer(config: ServerConfig, file: string): Promise<number | undefined> {
  const host = ['0.0.0.0', '::', ''].includes(config.httpHost) ? '127.0.0.1' : config.httpHost;
  let r: Response;
  try {
    r = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${config.httpPort}/store/backup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(config.httpToken === undefined ? {} : { authorization: `Bearer ${config.httpToken}` }) },
      body: JSON.stringify({ file }),
    });
  } catch {
    return undefined; // no server answers there
  }
  const body = await r.json().catch(() => ({})) as { data?: { pages: number }; meta?: { message?: string } };
  if (!r.ok || body.data === undefined) throw new BackupError(`the server on IM_HTTP_PORT ${config.httpPort} refused: ${body.meta?.message ?? r.status}`);
  return body.data.pages;
}

async function fromFile(config: ServerConfig, file: string): Promise<number> {
  if (!existsSync(config.storeDb)) throw new BackupError(`IM_STORE_DB=${config.storeDb} does not exist`);
  const busy = storeFileBusy(config.storeDb);
  if (busy !== undefined) throw new BackupError(`IM_STORE_DB=${config.storeDb} is held by a server whose HTTP API (IM_HTTP_PORT ${config.httpPort}) did not answer: ${busy}`);
  const db = new DatabaseSync(config.storeDb);
  try {
    createPrivate(file, true);
    return await backup(db, file);
  } finally {
    db.close();
  }
}

async function main(argv: string[]): Promise<string> {
  const files = argv.filter((a, i) => !a.startsWith('-') && argv[i - 1] !== '--config' && argv[i - 1] !== '-c');
  if (files.length !== 1) throw new BackupError('usage: im-backup FILE [--config im.cfg]  (FILE: a new file for the copy)');
  const file = resolve(files[0]!);
  const { config } = loadConfig('im', argv.filter((a) => a !== files[0]), process.env, serverConfig);
  if (config.store === 'off') throw new BackupError('IM_STORE=off: there is no message store');
  if (config.store === 'postgres') throw new BackupError('the message store is PostgreSQL (IM_STORE_URL): back it up with pg_dump, or a base backup with WAL archiving');
  if (existsSync(file)) throw new BackupError(`${file} exists: a backup goes to a new file`);
  const t0 = performance.now();
  const served = await viaServer(config, file);
  const pages = served ?? await fromFile(config, file);
  const how = served === undefined ? `from ${config.storeDb} (no server running)` : 'by the running server';
  return `im-backup: ${file}: ${pages} pages, taken ${how} in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

try {
  process.stdout.write(`${await main(process.argv.slice(2))}\n`);
} catch (err) {
  if (!(err instanceof BackupError) && !(err instanceof ConfigError)) throw err;
  process.stderr.write(`im-backup: ${err.message}\n`);
  process.exitCode = 2;
}
