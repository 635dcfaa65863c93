import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { GROUP_SCHEMA_MYSQL } from '../../src/groups/source.ts';
import { freePort } from './process.ts';

/** Debian puts the server in /usr/sbin, which a non-login PATH may lack. */
function bin(name: string, dir: string): string {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return name;
  } catch {
    return join(dir, name);
  }
}

export interface MariaDb {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real MariaDB server (Debian's mariadb-server) in a fresh data directory on a free
 * loopback port, with database `gobelieve` and GoBelieve's group tables loaded.
 */
export async function startMariaDb(): Promise<MariaDb> {
  const dir = mkdtempSync(join(tmpdir(), 'im-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  execFileSync(bin('mariadb-install-db', '/usr/bin'), ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
  // The port is picked just before the server binds it, and picked again if it was taken
  // meanwhile (another test file's server got it): the server then exits at once.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawn(bin('mariadbd', '/usr/sbin'), ['--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1',
      '--user=root', '--skip-log-bin', '--innodb-buffer-pool-size=32M', `--pid-file=${join(dir, 'pid')}`], { stdio: 'ignore' });
    try {
      const conn = await connect(proc, port);
      return await ready(conn, proc, port, dir);
    } catch (e) {
      proc.kill('SIGKILL');
      if (attempt === 3 || !String(e).includes('exited')) throw e;
    }
  }
}

async function connect(proc: ChildProcess, port: number): Promise<mysql.Connection> {
  const failed = once(proc, 'exit').then(([code]) => { throw new Error(`mariadbd exited with ${code}`); });
  failed.catch(() => {});
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      return await Promise.race([mysql.createConnection({ host: '127.0.0.1', port, user: 'root', password: '' }), failed]);
    } catch (e) {
      if (Date.now() > end || String(e).includes('exited')) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function ready(conn: mysql.Connection, proc: ChildProcess, port: number, dir: string): Promise<MariaDb> {
  await conn.query('CREATE DATABASE gobelieve');
  await conn.query('USE gobelieve');
  for (const sql of GROUP_SCHEMA_MYSQL) await conn.query(sql);
  await conn.end();
  return {
    url: `mysql://root@127.0.0.1:${port}/gobelieve`,
    async stop() {
      proc.kill('SIGKILL');
      await once(proc, 'exit').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
