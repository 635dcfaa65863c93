/**
 * How long realtime messages stop between access servers linked through NATS when a node
 * dies (SIGKILL) or hangs (SIGSTOP): three servers, each on its own node of a three-node
 * cluster, an RT every 20 ms from each server to a user on every other; the node of the
 * first server is killed (then, in a fresh cluster, stopped). Reported: from the fault to
 * the first RT received on every pair that was sent after it, per round.
 * Run: npm run bench:failover   (FAILOVER_ROUNDS, default 3)
 */
import { im } from './backplanes.ts';
import { startNats } from '../test/helpers/nats.ts';
import { client } from './peer-load.ts';
import type { ImClient } from '../src/client/index.ts';

const ROUNDS = Number(process.env.FAILOVER_ROUNDS ?? 3);

async function round(fault: 'kill' | 'stop'): Promise<number> {
  const nats = await startNats({ size: 3 });
  const servers = [];
  for (let i = 0; i < 3; i++) servers.push(await im({ IM_STORE: 'off', IM_NATS_URL: nats.urls[i]! + ',' + nats.urls.filter((_, k) => k !== i).join(',') }));
  const pairs: { from: ImClient; to: ImClient; uid: number; last: number }[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        if (i === j) continue;
        const uid = 1000 + 10 * i + j;
        const from = await client(servers[i]!.ready.tcp as number, uid + 100);
        const to = await client(servers[j]!.ready.tcp as number, uid);
        const p = { from, to, uid, last: 0 };
        to.on('rt', (m) => { p.last = Math.max(p.last, m.content.readDoubleBE(0)); });
        pairs.push(p);
      }
    }
    const content = Buffer.alloc(8);
    const tick = setInterval(() => {
      for (const p of pairs) {
        content.writeDoubleBE(performance.now(), 0);
        p.from.sendRT({ receiver: p.uid, content: Buffer.from(content) });
      }
    }, 20);
    try {
      // Every pair flowing before the fault.
      const t0 = performance.now();
      while (pairs.some((p) => p.last < t0)) await new Promise((r) => setTimeout(r, 20));
      const at = performance.now();
      if (fault === 'kill') await nats.kill(0);
      else nats.pause(0);
      while (pairs.some((p) => p.last <= at)) {
        if (performance.now() - at > 30_000) throw new Error('pairs still cut 30 s after the fault');
        await new Promise((r) => setTimeout(r, 5));
      }
      return performance.now() - at;
    } finally {
      clearInterval(tick);
      nats.resume(0);
    }
  } finally {
    for (const p of pairs) { p.from.destroy(); p.to.destroy(); }
    for (const s of servers) await s.stop();
    await nats.stop();
  }
}

const results: Record<string, number[]> = { kill: [], stop: [] };
for (let r = 0; r < ROUNDS; r++) for (const f of ['kill', 'stop'] as const) results[f]!.push(await round(f));
console.log('\n## realtime messages between three servers linked through NATS: from a node fault until every pair flows again');
console.log('| fault | each round, ms | median ms |');
console.log('|---|---|---:|');
for (const [f, xs] of Object.entries(results)) {
  const sorted = [...xs].sort((a, b) => a - b);
  console.log(`| ${f === 'kill' ? 'node killed (SIGKILL)' : 'node hangs (SIGSTOP)'} | ${xs.map((x) => x.toFixed(0)).join(', ')} | ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} |`);
}
