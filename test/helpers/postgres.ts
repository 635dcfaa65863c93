import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './process.ts';

/** Debian keeps each major version's server in /usr/lib/postgresql/N/bin. */
function bin(name: string): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(root, v, 'bin', name))) return join(root, v, 'bin', name);
  }
  return name;
}

export interface Postgres {
  url: string;
  port: number;
  /** SIGSTOP / SIGCONT: the server hangs, then resumes (for "store unreachable" tests). */
  pause(): void;
  resume(): void;
  /** As `pg_ctl restart -m fast`: a fast shutdown (every session cut), then the server again on the same port and data. */
  restart(): Promise<void>;
  /** Drops the message store's tables (a benchmark's next round starts empty). */
  reset(): Promise<void>;
  /** Ends every client session from the server's side (pg_terminate_backend); resolves how many. */
  terminateSessions(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL server (Debian's postgresql) in a fresh data directory on a free
 * loopback port. PostgreSQL refuses to run as root: as root it runs as the `postgres` user.
 */
export async function startPostgres(o: { durable?: boolean } = {}): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'im-postgres-'));
  const data = join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  const run = (cmd: string, args: string[]) => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]) as [string, string[]];
  if (asRoot) {
    const pg = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, pg, gid);
    chmodSync(dir, 0o700);
  }
  execFileSync(...run(bin('initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']), { stdio: 'ignore' });
  // The port is picked just before the server binds it, and picked again if it was taken
  // meanwhile (another test file's server got it): the server then exits at once.
  const launch = (port: number) => spawn(...run(bin('postgres'), [
    '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
    // Tests do without the disk's flushes; a benchmark may ask for PostgreSQL's defaults (durable).
    ...(o.durable === true ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    '-c', 'shared_buffers=32MB', '-c', 'max_connections=50',
  ]), { stdio: 'ignore' });
  let port = 0;
  let proc: ChildProcess | undefined;
  for (let attempt = 1; proc === undefined; attempt++) {
    port = await freePort();
    const p = launch(port);
    try {
      await serving(p, `postgres://postgres@127.0.0.1:${port}/postgres`);
      proc = p;
    } catch (e) {
      if (attempt === 3 || !String(e).includes('exited')) {
        p.kill('SIGKILL');
        throw e;
      }
    }
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  // The server and every backend it forked (existing connections are served by those).
  const signal = (s: NodeJS.Signals) => {
    const sig = `-${s.replace('SIG', '')}`;
    const pids = execFileSync('pgrep', ['-f', `bin/postgres -D ${data}`]).toString().trim().split('\n').filter(Boolean);
    for (const pid of pids) {
      try { execFileSync('pkill', [sig, '-P', pid]); } catch { /* no children */ }
      execFileSync('kill', [sig, pid]);
    }
  };
  let server: ChildProcess = proc;
  return {
    url,
    port,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    async restart() {
      // SIGINT is PostgreSQL's fast shutdown: sessions are ended, their transactions rolled back.
      const exited = once(server, 'exit');
      process.kill(Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGINT');
      await exited;
      server = launch(port);
      await serving(server, url);
    },
    async reset() {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql`DROP TABLE IF EXISTS im_messages, im_entries, im_bodies, im_queues, im_acked_keys`;
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    async terminateSessions() {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql`SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`;
        return rows.filter((r) => r.t === true).length;
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    async stop() {
      const proc = server;
      try { signal('SIGCONT'); } catch { /* not paused */ }
      proc.kill('SIGINT');
      await Promise.race([once(proc, 'exit'), new Promise((r) => setTimeout(r, 5000))]).catch(() => {});
      try { execFileSync('pkill', ['-KILL', '-f', `bin/postgres -D ${data}`]); } catch { /* gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once postgres answers at `url`; rejects at once if it exits (its port was taken). */
async function serving(proc: ChildProcess, url: string): Promise<void> {
  const failed = once(proc, 'exit').then(([code]) => { throw new Error(`postgres exited with ${code}`); });
  failed.catch(() => {});
  const end = Date.now() + 30_000;
  for (;;) {
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await Promise.race([sql`SELECT 1`, failed]);
      await sql.end();
      return;
    } catch (e) {
      await sql.end({ timeout: 1 }).catch(() => {});
      if (Date.now() > end || String(e).includes('exited')) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
