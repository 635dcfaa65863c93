/**
 * Where a fan-out's peak memory goes: one room fan-out (4 senders, as bench/memory.ts) against
 * a fresh access server, reading its RSS every 250 ms and, at the highest, its mappings from
 * /proc/PID/smaps by kind (V8 heap pages are 256 KiB mappings; malloc's arenas and large
 * objects the larger ones), against the same reading before the load.
 * Run: node bench/fanout-probe.ts   (PROBE_SHARDS=1, PROBE_RECEIVERS=1000, PROBE_SECONDS=5,
 * PROBE_ENV='{"IM_WORKER_YOUNG_MB":"8"}': more variables for the server)
 */
import { readFileSync } from 'node:fs';
import { Piscina } from 'piscina';
import { startProcess } from '../test/helpers/process.ts';
import { memoryKiB } from './proc.ts';
import { driveFanout } from './fanout-drive.ts';
import { fmt } from './harness.ts';

const SECRET = 'bench-secret-bench-secret-bench-secret!!';
const RECEIVERS = Number(process.env.PROBE_RECEIVERS ?? 1000);
const SECONDS = Number(process.env.PROBE_SECONDS ?? 5);

/** Resident MiB by kind of mapping. */
function mappings(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m !== null) {
      const kib = (parseInt(m[2]!, 16) - parseInt(m[1]!, 16)) / 1024;
      const name = m[3]!;
      kind = name.startsWith('/') ? 'files' : name !== '' ? name
        : kib === 256 ? 'anonymous, 256 KiB (V8 heap pages)'
          : kib < 1024 ? 'anonymous, under 1 MiB'
            : kib < 60 * 1024 ? 'anonymous, 1–60 MiB (malloc arenas, large objects)' : 'anonymous, 60 MiB and over';
      continue;
    }
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss !== null) out.set(kind, (out.get(kind) ?? 0) + Number(rss[1]) / 1024);
  }
  return out;
}

const server = await startProcess('src/server/main.ts', {
  IM_SHARDS: process.env.PROBE_SHARDS ?? '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET,
  IM_LOG_LEVEL: 'warn', IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off', IM_QUEUE_LIMIT: '100000',
  ...(JSON.parse(process.env.PROBE_ENV ?? '{}') as Record<string, string>),
});
const pid = server.proc.pid!;
const before = mappings(pid);
let highest = 0;
let atHighest = before;
const sample = setInterval(() => {
  const rss = memoryKiB(pid).rss;
  if (rss > highest) {
    highest = rss;
    atHighest = mappings(pid);
  }
}, 250);
const pool = new Piscina({ filename: new URL('./fixtures/fanout-worker.ts', import.meta.url).href, minThreads: 2, maxThreads: 2, idleTimeout: 60_000 });
try {
  const { results } = await driveFanout(pool, {
    target: 'im', port: server.ready.tcp as number, pid, receivers: RECEIVERS, senders: 4, threads: 2, seconds: SECONDS,
    window: 32, secret: SECRET, spreadSources: true,
  });
  clearInterval(sample);
  const deliveries = results.reduce((n, r) => n + r.received, 0) / SECONDS;
  console.log(`\n## fan-out to ${RECEIVERS}: peak RSS ${(memoryKiB(pid).peak / 1024).toFixed(0)} MiB, ${fmt(deliveries)} deliveries/s`);
  console.log('| mappings | before (MiB) | at the highest RSS sampled (MiB) |');
  console.log('|---|---:|---:|');
  for (const [kind, mib] of [...atHighest].sort((a, b) => b[1] - a[1])) {
    if (mib >= 0.5 || (before.get(kind) ?? 0) >= 0.5) console.log(`| ${kind} | ${(before.get(kind) ?? 0).toFixed(1)} | ${mib.toFixed(1)} |`);
  }
} finally {
  clearInterval(sample);
  await pool.destroy();
  await server.stop(20_000);
}
