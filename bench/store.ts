/**
 * The message store, end to end and alone. In one run:
 * 1. Peer IM between online users (pairs on one access server) with the store off, on
 *    SQLite and on PostgreSQL: messages/s and end-to-end latency. Each IM is two saves.
 * 2. Sync: a user with 3,000 waiting messages syncs one page (p50/p99 over repeats), then
 *    1,000 users sync a page each at once (pages/s).
 * 3. The store thread's engine alone: rows/s saved one transaction per batch vs per row.
 * Run: npm run bench:store   (STORE_PAIRS, STORE_SECONDS, STORE_WINDOW, STORE_ENGINES="sqlite,postgres")
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { startProcess, type Started } from '../test/helpers/process.ts';
import { startPostgres, type Postgres } from '../test/helpers/postgres.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import { PostgresStore } from '../src/store/postgres.ts';
import { QueueKind, type SaveItem, type StoreEngine } from '../src/store/types.ts';
import { fmt } from './harness.ts';
import { SECRET, client, drive, type Result } from './peer-load.ts';

const PAIRS = Number(process.env.STORE_PAIRS ?? 50);
const SECONDS = Number(process.env.STORE_SECONDS ?? 4);
const WINDOW = Number(process.env.STORE_WINDOW ?? 16);
const ENGINES = (process.env.STORE_ENGINES ?? 'sqlite,postgres').split(',');
const dir = mkdtempSync(join(tmpdir(), 'im-bench-store-'));
let pg: Postgres | undefined;

async function im(store: string, extra: Record<string, string> = {}): Promise<Started> {
  const env: Record<string, string> = {
    IM_SHARDS: '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: store,
  };
  if (store === 'sqlite') env.IM_STORE_DB = join(dir, `messages-${Date.now()}.db`);
  if (store === 'postgres') env.IM_STORE_URL = pg!.url;
  return startProcess('src/server/main.ts', { ...env, ...extra });
}

async function peer(store: string, extra: Record<string, string> = {}): Promise<Result> {
  const p = await im(store, extra);
  try {
    const port = p.ready.tcp as number;
    const senders = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(port, 1 + i)));
    const receivers = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(port, 10_001 + i)));
    const r = await drive(senders, receivers, SECONDS, WINDOW);
    for (const c of [...senders, ...receivers]) c.destroy();
    return r;
  } finally {
    await p.stop();
  }
}

async function sync(store: string): Promise<{ p50: number; p99: number; pagesPerSec: number }> {
  const p = await im(store);
  try {
    const port = p.ready.tcp as number;
    // 1,000 users with 3,000 waiting messages each would be 3 M rows: the one measured user
    // gets 3,000, the crowd 300 each.
    const sender = await client(port, 1);
    const post = async (to: number, n: number) => {
      for (let i = 0; i < n; i += 500) {
        await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, k) => sender.sendIM({ receiver: to, content: `m${i + k}` })));
      }
    };
    await post(2, 3000);
    const reader = await client(port, 2);
    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const r = await reader.sync(0);
      if (r.messages.length !== 3000) throw new Error(`page of ${r.messages.length}`);
      h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    }
    const crowd = await Promise.all(Array.from({ length: 1000 }, (_, i) => client(port, 100 + i)));
    for (let i = 0; i < crowd.length; i += 50) await Promise.all(crowd.slice(i, i + 50).map((c) => post(c.uid!, 300)));
    const t0 = performance.now();
    await Promise.all(crowd.map((c) => c.sync(0, 60_000)));
    const pagesPerSec = crowd.length / ((performance.now() - t0) / 1000);
    for (const c of [...crowd, sender, reader]) c.destroy();
    return { p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000, pagesPerSec };
  } finally {
    await p.stop();
  }
}

/**
 * Rows/s of the engine alone, and this process's CPU µs a row (the driver's work: what the
 * store thread spends per row). Each message pair shares its body, as a peer IM's two copies do.
 */
async function alone(engine: StoreEngine, batch: number, total: number): Promise<{ perSec: number; cpuUs: number }> {
  const items: SaveItem[] = [];
  for (let i = 0; i < total; i++) {
    const body = i % 2 === 0 ? Buffer.alloc(100, 0x61 + (i % 26)) : items[i - 1]!.body;
    items.push({ appid: 1, kind: QueueKind.USER, owner: i % 1000, deviceId: 1, cmd: 4, body });
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < total; i += batch) await engine.save(items.slice(i, i + batch));
  const cpu = process.cpuUsage(cpu0);
  return { perSec: total / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / total };
}

try {
  if (ENGINES.includes('postgres')) pg = await startPostgres();
  const peers: [string, Result][] = [['off', await peer('off')]];
  for (const e of ENGINES) peers.push([e, await peer(e)]);
  const syncs: [string, Awaited<ReturnType<typeof sync>>][] = [];
  for (const e of ENGINES) syncs.push([e, await sync(e)]);
  // PostgreSQL with its default durability (fsync and synchronous_commit on) and without,
  // its saves one transaction at a time (IM_STORE_PG_LANES=1) and four at once, alternating.
  const lanes: [string, Result][] = [];
  if (ENGINES.includes('postgres')) {
    const fast = pg!;
    const durable = await startPostgres({ durable: true });
    try {
      for (const [name, server] of [['fsync on', durable], ['fsync off', fast]] as const) {
        pg = server;
        for (const n of ['1', '4']) lanes.push([`${name}, lanes ${n}`, await peer('postgres', { IM_STORE_PG_LANES: n })]);
      }
    } finally {
      pg = fast;
      await durable.stop();
    }
  }
  const engines: [string, Awaited<ReturnType<typeof alone>>, Awaited<ReturnType<typeof alone>>][] = [];
  for (const e of ENGINES) {
    const open = async () => e === 'sqlite' ? new SqliteStore(join(dir, `alone-${Date.now()}.db`)) : PostgresStore.open(pg!.url);
    const a = await open();
    const batched = await alone(a, 1000, 200_000);
    const single = await alone(a, 1, e === 'sqlite' ? 20_000 : 5_000);
    await a.close();
    engines.push([e, batched, single]);
  }

  const off = peers[0]![1];
  console.log(`\n## peer IM between online users, ${PAIRS} pairs on one server (IM_SHARDS=1), window ${WINDOW}, ${SECONDS} s`);
  console.log('| store | messages/s | stored rows/s | p50 ms | p99 ms | vs off |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of peers) {
    console.log(`| ${name} | ${fmt(r.perSec)} | ${name === 'off' ? '–' : fmt(2 * r.perSec)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${(r.perSec / off.perSec).toFixed(2)} |`);
  }
  if (lanes.length > 0) {
    console.log(`\n## PostgreSQL: one save transaction at a time against four lanes (the same peer IM load)`);
    console.log('| PostgreSQL | messages/s | stored rows/s | p50 ms | p99 ms | vs lanes 1 |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (let i = 0; i < lanes.length; i++) {
      const [name, r] = lanes[i]!;
      const one = lanes[i - (i % 2)]![1];
      console.log(`| ${name} | ${fmt(r.perSec)} | ${fmt(2 * r.perSec)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${(r.perSec / one.perSec).toFixed(2)} |`);
    }
  }
  console.log('\n## sync: one 3,000-message page (30 repeats); 1,000 users syncing a 300-message page at once');
  console.log('| store | page p50 ms | page p99 ms | pages/s, 1,000 at once |');
  console.log('|---|---:|---:|---:|');
  for (const [name, s] of syncs) console.log(`| ${name} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${fmt(s.pagesPerSec)} |`);
  console.log('\n## the engine alone: 100-byte messages into 1,000 queues');
  console.log('| engine | rows/s, 1,000 per transaction | CPU µs a row | rows/s, one per transaction | CPU µs a row | batched vs one |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, b, s] of engines) {
    console.log(`| ${name} | ${fmt(b.perSec)} | ${b.cpuUs.toFixed(1)} | ${fmt(s.perSec)} | ${s.cpuUs.toFixed(1)} | ${(b.perSec / s.perSec).toFixed(1)} |`);
  }
} finally {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
}
