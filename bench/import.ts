/**
 * `npm run bench:import`: bin/im-import on generated ims logs of growing size (several
 * message_N files each), into SQLite and into PostgreSQL: rows/s and the importer's peak
 * RSS. Memory should stay flat as the log grows (the importer streams it).
 * Env: IMPORT_SIZES (queue entries, default 250000,1000000), IMPORT_ENGINES (sqlite,postgres),
 * IMPORT_FILE_MB (file size before ims rolls, default 64; ims's own is 128).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImsLogWriter } from '../src/import/ims-writer.ts';
import { codecs, encodeBody } from '../src/protocol/index.ts';
import { builtEntry } from '../test/helpers/process.ts';
import { startPostgres, type Postgres } from '../test/helpers/postgres.ts';

const SIZES = (process.env.IMPORT_SIZES ?? '250000,1000000').split(',').map(Number);
const ENGINES = (process.env.IMPORT_ENGINES ?? 'sqlite,postgres').split(',');
const FILE_MB = Number(process.env.IMPORT_FILE_MB ?? 64);
const USERS = 10_000;
const APP = 7;

/** `entries` queue entries: peer IMs between USERS users, each filed for the receiver and the sender. */
function generate(dir: string, entries: number): { bytes: number; files: number; ms: number } {
  const t0 = performance.now();
  const w = new ImsLogWriter(dir, { fileLimit: FILE_MB << 20 });
  const text = 'a message of about the length most chat messages have, sixty b';
  for (let i = 0; i < entries / 2; i++) {
    const s = 1 + (i % USERS);
    const r = 1 + ((i * 7919) % USERS);
    const body = encodeBody(codecs.IM, { sender: s, receiver: r, timestamp: 1_700_000_000 + i, msgid: i, content: Buffer.from(`${text}${i}`) }, 2);
    w.user(APP, r, 4, body, 1 + (s % 50));
    w.user(APP, s, 4, body, 1 + (s % 50));
  }
  w.close();
  const names = readdirSync(dir);
  return { bytes: names.reduce((n, f) => n + statSync(join(dir, f)).size, 0), files: names.length, ms: performance.now() - t0 };
}

function runImport(ims: string, env: Record<string, string>): Promise<{ stdout: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [builtEntry('src/import/main.ts'), '--ims', ims, '--settle-ms', '0'], { env: { ...process.env, ...env }, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, ms: performance.now() - t0 })));
  });
}

const mib = (n: number) => (n / 1048576).toFixed(0);
let pg: Postgres | undefined;
try {
  if (ENGINES.includes('postgres')) pg = await startPostgres();
  console.log(`bin/im-import, ${USERS} users, files of ${FILE_MB} MiB; PostgreSQL as the test helper runs it (fsync off)`);
  console.log('| engine | queue entries | log | files | import s | rows/s | importer peak RSS MiB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const size of SIZES) {
    const ims = mkdtempSync(join(tmpdir(), 'bench-ims-'));
    const log = generate(ims, size);
    for (const engine of ENGINES) {
      const db = mkdtempSync(join(tmpdir(), 'bench-import-'));
      let env: Record<string, string> = { IM_STORE: 'sqlite', IM_STORE_DB: join(db, 'messages.db') };
      if (engine === 'postgres') {
        await pg!.reset();
        env = { IM_STORE: 'postgres', IM_STORE_URL: pg!.url };
      }
      const r = await runImport(ims, env);
      const written = Number(/messages written: (\d+)/.exec(r.stdout)?.[1]);
      const rss = Number(/peak memory (\d+) MiB/.exec(r.stdout)?.[1]);
      console.log(`| ${engine} | ${size} | ${mib(log.bytes)} MiB | ${log.files} | ${(r.ms / 1000).toFixed(1)} | ${Math.round(written / (r.ms / 1000))} | ${rss} |`);
      if (written !== size) throw new Error(`wrote ${written} of ${size}`);
      rmSync(db, { recursive: true, force: true });
    }
    rmSync(ims, { recursive: true, force: true });
  }
} finally {
  await pg?.stop();
}
