/**
 * What one client can make a linked access server hold: messages of the largest size sent
 * at once to a normal group whose members are online nowhere. Each is one PUBLISH per
 * member to the router (GoBelieve's rule: every member's own copy), so 20 messages to 5000
 * members are 3.3 GB on the wire; the router link's limit (IM_CHANNEL_QUEUE_LIMIT_BYTES)
 * decides how much of that goes out, and this reports what the server held meanwhile (peak
 * RSS, sampled every 20 ms), the time until the last ACK, and what was dropped. With
 * BURST_STORE=sqlite every member's queue gets an entry in the embedded store and each
 * message's body is stored once: it also reports what the store's file grew by.
 * Run: npm run bench:burst   (BURST_MEMBERS=5000 BURST_MESSAGES=20 BURST_BYTES=32000 BURST_STORE=off|sqlite)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, httpJson, type Started } from '../test/helpers/process.ts';
import { SECRET, client } from './peer-load.ts';
import { memoryKiB } from './proc.ts';

const MEMBERS = Number(process.env.BURST_MEMBERS ?? 5000);
const MESSAGES = Number(process.env.BURST_MESSAGES ?? 20);
const BYTES = Number(process.env.BURST_BYTES ?? 32_000);
const STORE = process.env.BURST_STORE ?? 'off';
const dir = mkdtempSync(join(tmpdir(), 'im-bench-burst-'));
const storeDb = join(dir, 'messages.db');

/** The store file's size with its WAL folded in (no server may hold it). */
function storeBytes(): number {
  const db = new DatabaseSync(storeDb);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  return statSync(storeDb).size;
}

const procs: Started[] = [];
try {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'error' });
  procs.push(imr);
  const server = () => startProcess('src/server/main.ts', {
    IM_SHARDS: '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'error',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: STORE, IM_STORE_DB: storeDb, IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`,
  });
  let empty = 0;
  if (STORE === 'sqlite') {
    // The store's tables, made by a server that then stops: what the burst adds is measured from there.
    await (await server()).stop();
    empty = storeBytes();
  }
  const im = await server();
  procs.push(im);
  const http = im.ready.http as number;
  const members = Array.from({ length: MEMBERS }, (_, i) => 100_000 + i);
  const created = await httpJson(http, '/create_group', {
    method: 'POST', body: JSON.stringify({ appid: 1, master: members[0], name: 'burst', members }), headers: { 'content-type': 'application/json' },
  });
  const gid = created.body.data.group_id as number;
  const sender = await client(im.ready.tcp as number, members[0]!);
  const before = memoryKiB(im.proc.pid!).rss;
  let peak = before;
  const sample = setInterval(() => { peak = Math.max(peak, memoryKiB(im.proc.pid!).rss); }, 20);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: MESSAGES }, () => sender.sendGroupIM({ receiver: gid, content: Buffer.alloc(BYTES, 0x61) })));
  const acked = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2000));
  clearInterval(sample);
  const drops = (await httpJson(http, '/summary')).body.dropped_count as Record<string, number>;
  sender.destroy();
  let stored = '';
  if (STORE === 'sqlite') {
    await im.stop();
    const grown = storeBytes() - empty;
    const perMember = (grown - MESSAGES * BYTES) / (MESSAGES * MEMBERS);
    stored = ` ${(grown / 1024 / 1024).toFixed(1)} | ${perMember.toFixed(1)} |`;
  }
  console.log(`\n## ${MESSAGES} messages of ${BYTES} bytes at once to a normal group of ${MEMBERS} (one PUBLISH per member), store ${STORE}`);
  console.log(`| RSS before MiB | peak RSS MiB | last ACK after ms | publishes dropped (router_backlog) | dropped, router down |${STORE === 'sqlite' ? ' store grew MiB | bytes a member beyond the bodies |' : ''}`);
  console.log(`|---:|---:|---:|---:|---:|${STORE === 'sqlite' ? '---:|---:|' : ''}`);
  console.log(`| ${(before / 1024).toFixed(0)} | ${(peak / 1024).toFixed(0)} | ${acked.toFixed(0)} | ${drops.router_backlog ?? 0} | ${drops.router_down} |${stored}`);
} finally {
  for (const p of procs.reverse()) await p.stop();
  rmSync(dir, { recursive: true, force: true });
}
