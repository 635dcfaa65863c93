/**
 * `bin/im-backup DIR [--config im.cfg]`: a consistent copy of every piece of embedded state,
 * in a new directory, taken while the server runs: the message store (DIR/messages.db; the
 * running server, which holds it, is asked through its HTTP API, or with no server running
 * the file itself is copied), the group database (DIR/groups.db; WAL, so a read of its own
 * sees one moment of it) and the JWT secret the server keeps (DIR/jwt-secret). What lives in
 * PostgreSQL or MySQL is named, for its own tools. Restore: stop the server, put each file in
 * its place (IM_STORE_DB, IM_GROUP_DB, IM_JWT_SECRET_FILE; remove the old files' -wal and
 * -shm), start it. Exit 0 with one line, 2 with one line.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync, backup } from 'node:sqlite';
import { ConfigError } from '../config/env.ts';
import { loadConfig } from '../config/load.ts';
import { serverConfig, type ServerConfig } from '../config/server.ts';
import { createPrivate, storeFileBusy } from '../store/files.ts';

const USAGE = 'usage: im-backup DIR [--config im.cfg]  (DIR: a new directory for the copies of the message store, the group database and the JWT secret)';

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
  return copyDatabase(config.storeDb, file);
}

async function copyDatabase(from: string, file: string): Promise<number> {
  const db = new DatabaseSync(from);
  try {
    createPrivate(file, true);
    return await backup(db, file);
  } finally {
    db.close();
  }
}

async function main(argv: string[]): Promise<string> {
  const dirs = argv.filter((a, i) => !a.startsWith('-') && argv[i - 1] !== '--config' && argv[i - 1] !== '-c');
  if (dirs.length !== 1) throw new BackupError(USAGE);
  const dir = resolve(dirs[0]!);
  const { config } = loadConfig('im', argv.filter((a) => a !== dirs[0]), process.env, serverConfig);
  if (existsSync(dir)) throw new BackupError(`${dir} exists: a backup goes to a new directory`);
  const t0 = performance.now();
  const done: string[] = [];
  const elsewhere: string[] = [];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    await copyAll(config, dir, done, elsewhere);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true }); // no half backup left to be taken for a whole one
    throw err;
  }
  if (done.length === 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new BackupError(`nothing embedded to back up${elsewhere.length > 0 ? `: ${elsewhere.join('; ')}` : ''}`);
  }
  const note = elsewhere.length > 0 ? ` (not here: ${elsewhere.join('; ')})` : '';
  return `im-backup: ${dir}: ${done.join(', ')} in ${((performance.now() - t0) / 1000).toFixed(1)} s${note}`;
}

/** Copies each embedded piece into `dir`, saying what it copied in `done` and what lives elsewhere in `elsewhere`. */
async function copyAll(config: ServerConfig, dir: string, done: string[], elsewhere: string[]): Promise<void> {
  if (config.store === 'sqlite') {
    const file = join(dir, 'messages.db');
    const served = await viaServer(config, file);
    const pages = served ?? await fromFile(config, file);
    done.push(`messages.db (${pages} pages, ${served === undefined ? `from ${config.storeDb}, no server running` : 'by the running server'})`);
  } else if (config.store === 'postgres') {
    elsewhere.push('the message store is PostgreSQL: back it up with pg_dump, or a base backup with WAL archiving');
  }
  if (config.mysqlUrl !== undefined) elsewhere.push('groups are in MySQL (IM_MYSQL_URL): back them up with mysqldump');
  else if (existsSync(config.groupDb)) done.push(`groups.db (${await copyDatabase(config.groupDb, join(dir, 'groups.db'))} pages)`);
  if (config.jwtSecret === undefined && existsSync(config.jwtSecretFile)) {
    writeFileSync(join(dir, 'jwt-secret'), readFileSync(config.jwtSecretFile), { mode: 0o600, flag: 'wx' });
    done.push('jwt-secret');
  }
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${USAGE}\nRun it with the server's environment or --config; see the README, "Backup and restore".\n`);
} else {
  try {
    process.stdout.write(`${await main(args)}\n`);
  } catch (err) {
    if (!(err instanceof BackupError) && !(err instanceof ConfigError)) throw err;
    process.stderr.write(`im-backup: ${err.message}\n`);
    process.exitCode = 2;
  }
}
