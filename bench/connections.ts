/**
 * Memory per idle authenticated connection: each server's RSS with N idle, authenticated TCP
 * connections against its RSS when empty. Measured in the same run: the access server, and
 * two baselines: a bare Node server holding the sockets on its main thread, and one that
 * moves each accepted socket to a worker thread as the access server does. Clients run in a
 * separate process over several 127.0.0.x source addresses.
 * Run: npm run bench:connections   (CONN_N, default 15000; CONN_SHARDS, default 1)
 */
import { startProcess, type Started } from '../test/helpers/process.ts';
import { memoryKiB } from './proc.ts';

const N = Number(process.env.CONN_N ?? 15_000);
const SHARDS = process.env.CONN_SHARDS ?? '1';
const SECRET = 'bench-secret-bench-secret-bench-secret!!';
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row { name: string; connected: number; emptyMiB: number; fullMiB: number; perKiB: number; loginsPerSec: number }

async function measure(name: string, server: Started, gc: () => Promise<void>): Promise<Row> {
  const pid = server.proc.pid!;
  try {
    await settle(1000);
    await gc();
    const empty = memoryKiB(pid).rss;
    const t0 = performance.now();
    const clients = await startProcess('bench/fixtures/conn-client.ts', { CONN_PORT: String(server.ready.tcp), CONN_N: String(N), CONN_SECRET: SECRET }, 300_000);
    const connected = clients.ready.connected as number;
    const secs = (performance.now() - t0) / 1000;
    await settle(1000);
    await gc();
    const full = memoryKiB(pid).rss;
    await clients.kill();
    return { name, connected, emptyMiB: empty / 1024, fullMiB: full / 1024, perKiB: (full - empty) / connected, loginsPerSec: connected / secs };
  } finally {
    await server.stop(20_000);
  }
}

const rows: Row[] = [];
// Every server is read after a full GC in each of its threads, baselines included.
const bare = async (name: string, env: Record<string, string>) => {
  const s = await startProcess('bench/fixtures/idle-bare.ts', { ...env, NODE_OPTIONS: '--expose-gc' });
  return measure(name, s, async () => {
    s.proc.kill('SIGUSR2');
    await settle(500);
  });
};
rows.push(await bare('bare Node, main thread', {}));
rows.push(await bare('bare Node, socket moved to a worker', { BARE_TRANSFER: '1' }));
const im = await startProcess('src/server/main.ts', {
  IM_SHARDS: SHARDS, IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET,
  IM_LOG_LEVEL: 'warn', IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off', IM_SUBSCRIBER_CAPACITY: String(Math.max(N * 2, 1 << 16)),
  // Collect garbage before each reading, so that RSS shows what connections hold, not what
  // logging in left behind.
  IM_TEST_HOOKS: '1', NODE_OPTIONS: '--expose-gc',
});
rows.push(await measure(`im, IM_SHARDS=${SHARDS}`, im, async () => {
  await fetch(`http://127.0.0.1:${im.ready.http}/debug/gc`, { method: 'POST' });
  await settle(500);
}));

console.log(`\n## ${N} idle authenticated TCP connections`);
console.log('| server | connections | RSS empty MiB | RSS full MiB | per connection KiB | logins/s |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.connected} | ${r.emptyMiB.toFixed(1)} | ${r.fullMiB.toFixed(1)} | ${r.perKiB.toFixed(2)} | ${r.loginsPerSec.toFixed(0)} |`);
}
