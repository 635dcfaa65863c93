/**
 * Where the CPU of cross-server messaging goes, thread by thread, at the most the setup
 * delivers and at fixed rates: the traffic of bench/cluster.ts (senders on server A,
 * receivers on server B, one router, IM_SHARDS=1, IM_STORE=off), with each thread's CPU
 * read from /proc over each run. What makes half the rate more than half the load shows
 * here as CPU a message that grows as the rate falls.
 * Run: npm run bench:cpu   (CPU_RATES=max,75000,37500  CPU_PAIRS=50  CPU_SECONDS=4  CPU_REPEAT=1)
 */
import { startProcess, type Started } from '../test/helpers/process.ts';
import { fmt } from './harness.ts';
import { SECRET, client, drive } from './peer-load.ts';
import { threadCpu } from './proc.ts';

const RATES = (process.env.CPU_RATES ?? 'max,75000,37500').split(',');
const PAIRS = Number(process.env.CPU_PAIRS ?? 50);
const SECONDS = Number(process.env.CPU_SECONDS ?? 4);
const REPEAT = Number(process.env.CPU_REPEAT ?? 1);

const procs: Started[] = [];
try {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  procs.push(imr);
  const im = () => startProcess('src/server/main.ts', {
    IM_SHARDS: '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off', IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`,
  });
  const [a, b] = await Promise.all([im(), im()]);
  procs.push(a, b);
  const senders = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(a.ready.tcp as number, 1 + i)));
  const receivers = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(b.ready.tcp as number, 10_001 + i)));
  await new Promise((r) => setTimeout(r, 500));
  const who = { router: imr.proc.pid!, 'server A': a.proc.pid!, 'server B': b.proc.pid!, 'load generator': process.pid };
  const wanted = ['router: node-MainThread', 'server A: shard-0', 'server A: channel', 'server B: channel', 'server B: shard-0', 'load generator: node-MainThread'];
  console.log(`\n## CPU by thread, % of one core (${PAIRS} pairs, ${SECONDS} s a run; µs a message: the servers' threads together)`);
  console.log(`| rate | messages/s | p50 / p99 ms | ${wanted.join(' | ')} | servers µs/message |`);
  console.log(`|---|---:|---|${wanted.map(() => '---:').join('|')}|---:|`);
  for (let rep = 0; rep < REPEAT; rep++) {
    for (const rate of RATES) {
      const before = Object.entries(who).map(([k, pid]) => [k, threadCpu(pid)] as const);
      const t0 = performance.now();
      const r = await drive(senders, receivers, SECONDS, 16, rate === 'max' ? undefined : Number(rate));
      const secs = (performance.now() - t0) / 1000;
      const share = new Map<string, number>();
      for (const [k, cpu0] of before) {
        for (const [t, v] of threadCpu(who[k as keyof typeof who])) share.set(`${k}: ${t}`, (v - (cpu0.get(t) ?? 0)) / secs);
      }
      const servers = [...share].filter(([k]) => !k.startsWith('load generator')).reduce((n, [, v]) => n + v, 0);
      const cells = wanted.map((k) => `${Math.round(100 * (share.get(k) ?? 0))}`);
      console.log(`| ${rate} | ${fmt(r.perSec)} | ${r.p50.toFixed(2)} / ${r.p99.toFixed(2)} | ${cells.join(' | ')} | ${(1e6 * servers / r.perSec).toFixed(1)} |`);
    }
  }
  for (const c of [...senders, ...receivers]) c.destroy();
} finally {
  for (const p of procs.reverse()) await p.stop();
}
