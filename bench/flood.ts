/**
 * `npm run bench:flood`: two clients send 1 KiB RT frames as fast as their sockets allow to
 * two receivers that never read, for FLOOD_S seconds, three rounds; meanwhile a control pair
 * on the same shard exchanges an RT every 50 ms. Reports the control messages lost and their
 * latency, the bytes the flood got in, and the server's RSS: before, peak in each round.
 * Each configuration runs on a fresh server (IM_SHARDS=1, store off), alternating:
 * IM_READ_BUDGET_BYTES=0 (reads unbounded, the build before the budget) and the default.
 * Env: FLOOD_S (8), FLOOD_ROUNDS (3), FLOOD_CONFIGS (e.g. "0,65536"), FLOOD_POLICY (IM_QUEUE_POLICY, drop-oldest), FLOOD_SHARDS (1).
 */
import { execFile } from 'node:child_process';
import * as hdr from 'hdr-histogram-js';
import { startProcess } from '../test/helpers/process.ts';
import { SECRET, client } from './peer-load.ts';
import { memoryKiB } from './proc.ts';

const FLOOD_S = Number(process.env.FLOOD_S ?? 8);
const ROUNDS = Number(process.env.FLOOD_ROUNDS ?? 3);
const CONFIGS = (process.env.FLOOD_CONFIGS ?? '0,65536').split(',');
const WORKER = new URL('./fixtures/flood-worker.ts', import.meta.url).pathname;

function flood(port: number): Promise<number> {
  return new Promise((resolve, reject) => execFile(process.execPath, [WORKER, String(port), String(FLOOD_S)], { timeout: (FLOOD_S + 30) * 1000 },
    (err, stdout) => (err ? reject(err) : resolve(Number(stdout)))));
}

async function round(port: number, pid: number): Promise<{ lost: number; sent: number; p50: number; p99: number; max: number; floodMiB: number; peakMiB: number }> {
  const [a, b] = [await client(port, 1000), await client(port, 1001)];
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  let got = 0;
  b.on('rt', (m) => {
    got++;
    h.recordValue(Math.max(1, Math.round((performance.now() - Number(m.content.toString())) * 1000)));
  });
  let sent = 0;
  const tick = setInterval(() => { sent++; a.sendRT({ receiver: 1001, content: String(performance.now()) }); }, 50);
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, memoryKiB(pid).rss); }, 100);
  const bytes = await flood(port);
  clearInterval(tick);
  clearInterval(sampler);
  // Whatever the server wrote before it answered these was sent: a fence, not a sleep.
  await a.ping();
  await b.ping();
  a.destroy();
  b.destroy();
  return { lost: sent - got, sent, p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000, max: h.maxValue / 1000, floodMiB: bytes / 1048576, peakMiB: peak / 1024 };
}

console.log(`flood: 2 senders of 1 KiB RTs to 2 receivers that never read, ${FLOOD_S} s a round; control pair: an RT every 50 ms, same shard`);
console.log('| IM_READ_BUDGET_BYTES | round | control lost / sent | p50 ms | p99 ms | max ms | flood in MiB | RSS before MiB | RSS peak MiB |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const budget of CONFIGS) {
  const im = await startProcess('src/server/main.ts', {
    IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_SHARDS: process.env.FLOOD_SHARDS ?? '1', IM_STORE: 'off', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
    IM_READ_BUDGET_BYTES: budget, IM_QUEUE_POLICY: process.env.FLOOD_POLICY ?? 'drop-oldest',
  });
  const port = im.ready.tcp as number;
  const before = memoryKiB(im.proc.pid!).rss / 1024;
  for (let r = 1; r <= ROUNDS; r++) {
    const x = await round(port, im.proc.pid!);
    console.log(`| ${budget} | ${r} | ${x.lost} / ${x.sent} | ${x.p50.toFixed(2)} | ${x.p99.toFixed(2)} | ${x.max.toFixed(1)} | ${x.floodMiB.toFixed(0)} | ${before.toFixed(0)} | ${x.peakMiB.toFixed(0)} |`);
  }
  await im.stop();
}
