/**
 * The access server's memory against raw Node, in one run: RSS and private memory idle, with
 * 1,000 and 10,000 idle authenticated connections (read after a full GC in every thread that
 * also gives freed pages back, as V8's memory reducer would some seconds later), and
 * peak RSS during room fan-out to 1,000 and to 10,000 receivers, with one and with two
 * threads (IM_SHARDS=1, 2; the raw servers with the same number of threads). Raw Node is
 * bench/fixtures/idle-bare.ts for idle connections and bench/fixtures/raw-fanout.ts for
 * fan-out; the access server runs with its defaults and IM_STORE=off, as those do not store.
 * Run: npm run bench:memory   (MEMORY_SHARDS="1,2", MEMORY_SECONDS=5, MEMORY_SETTLE_MS=3000: the wait
 * before each reading of connections, the same for every server)
 */
import { Piscina } from 'piscina';
import { startProcess, type Started } from '../test/helpers/process.ts';
import { memoryKiB, residentMiB } from './proc.ts';
import { driveFanout } from './fanout-drive.ts';
import { fmt } from './harness.ts';

const SHARDS = (process.env.MEMORY_SHARDS ?? '1,2').split(',').map(Number);
const SECONDS = Number(process.env.MEMORY_SECONDS ?? 5);
const SECRET = 'bench-secret-bench-secret-bench-secret!!';
const THREADS = 2;
const SETTLE_MS = Number(process.env.MEMORY_SETTLE_MS ?? 3000);
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

function im(shards: number, env: Record<string, string> = {}): Promise<Started> {
  return startProcess('src/server/main.ts', {
    IM_SHARDS: String(shards), IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off', IM_QUEUE_LIMIT: '100000', IM_TEST_HOOKS: '1', NODE_OPTIONS: '--expose-gc', ...env,
  });
}

async function gc(s: Started): Promise<void> {
  if (s.ready.http !== undefined) await fetch(`http://127.0.0.1:${s.ready.http}/debug/gc`, { method: 'POST' });
  else s.proc.kill('SIGUSR2');
  await settle(700);
}

interface Idle { idle: { rss: number; private: number }; k1: { rss: number; private: number }; k10: { rss: number; private: number }; perKiB: number }

/** Idle, then 1,000 connections, then 9,000 more, each read after a full GC. */
async function idle(server: Started): Promise<Idle> {
  const pid = server.proc.pid!;
  const clients: Started[] = [];
  try {
    await settle(1000);
    await gc(server);
    const idle = residentMiB(pid);
    const hold = async (n: number, first: number) => {
      const c = await startProcess('bench/fixtures/conn-client.ts', { CONN_PORT: String(server.ready.tcp), CONN_N: String(n), CONN_SECRET: SECRET, CONN_FIRST: String(first) }, 300_000);
      clients.push(c);
      if (c.ready.connected !== n) throw new Error(`${c.ready.connected} of ${n} connections authenticated`);
      // What logging in left to finish (timers, the last writes) settles before the reading.
      await gc(server);
      await settle(SETTLE_MS);
      await gc(server);
      return residentMiB(pid);
    };
    const k1 = await hold(1000, 0);
    const k10 = await hold(9000, 1000);
    return { idle, k1, k10, perKiB: ((k10.rss - idle.rss) * 1024) / 10_000 };
  } finally {
    for (const c of clients) await c.kill();
    await server.stop(20_000);
  }
}

/** Peak RSS of a fresh server while `receivers` in one room get 4 senders' messages. */
async function fanout(pool: Piscina, server: Started, target: 'im' | 'raw', receivers: number): Promise<{ peak: number; deliveries: number }> {
  try {
    const { results } = await driveFanout(pool, {
      target, port: (server.ready.tcp ?? server.ready.port) as number, pid: server.proc.pid!, receivers, senders: 4,
      threads: THREADS, seconds: SECONDS, window: 32, secret: SECRET, spreadSources: true,
    });
    return { peak: memoryKiB(server.proc.pid!).peak / 1024, deliveries: results.reduce((n, r) => n + r.received, 0) / SECONDS };
  } finally {
    await server.stop(20_000);
  }
}

const pool = new Piscina({ filename: new URL('./fixtures/fanout-worker.ts', import.meta.url).href, minThreads: THREADS, maxThreads: THREADS, idleTimeout: 60_000 });
const lines: string[] = [];
const fanLines: string[] = [];
for (const n of SHARDS) {
  for (const target of ['raw', 'im'] as const) {
    const name = target === 'raw' ? `raw Node, ${n} thread${n > 1 ? 's' : ''}` : `im, IM_SHARDS=${n}`;
    const bare = () => startProcess('bench/fixtures/idle-bare.ts', { NODE_OPTIONS: '--expose-gc', ...(n > 1 ? { BARE_TRANSFER: '1' } : {}) });
    const i = await idle(target === 'raw' ? await bare() : await im(n));
    lines.push(`| ${name} | ${i.idle.rss.toFixed(1)} | ${i.idle.private.toFixed(1)} | ${i.k1.rss.toFixed(1)} | ${i.k10.rss.toFixed(1)} | ${i.k10.private.toFixed(1)} | ${i.perKiB.toFixed(2)} |`);
    const row: string[] = [];
    for (const receivers of [1000, 10_000]) {
      const server = target === 'raw' ? await startProcess('bench/fixtures/raw-fanout.ts', { RAW_THREADS: String(n) }) : await im(n);
      const f = await fanout(pool, server, target, receivers);
      row.push(`${f.peak.toFixed(0)} | ${fmt(f.deliveries)}`);
      console.error(`${name}, fan-out to ${receivers}: peak ${f.peak.toFixed(0)} MiB, ${fmt(f.deliveries)} deliveries/s`);
    }
    fanLines.push(`| ${name} | ${row.join(' | ')} |`);
  }
}
await pool.destroy();
console.log('\n## memory: idle and idle connections (after a full GC), MiB; per connection KiB (RSS, 10,000 connections against none)');
console.log('| server | idle RSS | idle private | 1,000 conns RSS | 10,000 conns RSS | 10,000 conns private | per connection KiB |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const l of lines) console.log(l);
console.log(`\n## memory: peak RSS during room fan-out (4 senders, 64-byte messages, ${SECONDS} s), MiB`);
console.log('| server | 1,000 receivers: peak RSS | deliveries/s | 10,000 receivers: peak RSS | deliveries/s |');
console.log('|---|---:|---:|---:|---:|');
for (const l of fanLines) console.log(l);
