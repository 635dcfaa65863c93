/**
 * Room fan-out: R receivers in one room, S senders sending 64-byte messages into it, load from
 * piscina threads in this process (the server runs in its own). Reports deliveries/s, p50/p99
 * delivery latency, the server's CPU (cores busy) and peak RSS, for im at each IM_SHARDS of the
 * sweep and, in the same run, a raw-`net` fan-out server (the Node ceiling) and socket.io rooms.
 * Run: npm run bench:fanout   (FANOUT_RECEIVERS, FANOUT_SENDERS, FANOUT_THREADS, FANOUT_SECONDS,
 * FANOUT_SHARDS="1,2", FANOUT_TARGETS="raw,socketio,im")
 */
import { Piscina } from 'piscina';
import * as hdr from 'hdr-histogram-js';
import { startProcess, type Started } from '../test/helpers/process.ts';
import type { FanoutTask } from './fixtures/fanout-worker.ts';
import { memoryKiB } from './proc.ts';
import { driveFanout } from './fanout-drive.ts';
import { fmt } from './harness.ts';

const R = Number(process.env.FANOUT_RECEIVERS ?? 200);
const S = Number(process.env.FANOUT_SENDERS ?? 4);
const T = Number(process.env.FANOUT_THREADS ?? 2);
const SECONDS = Number(process.env.FANOUT_SECONDS ?? 5);
const WINDOW = Number(process.env.FANOUT_WINDOW ?? 32);
const SHARDS = (process.env.FANOUT_SHARDS ?? '1,2').split(',').map(Number);
const TARGETS = (process.env.FANOUT_TARGETS ?? 'raw,socketio,im').split(',');
const SECRET = 'bench-secret-bench-secret-bench-secret!!';

interface Row { name: string; deliveries: number; p50: number; p99: number; cores: number; peakMiB: number }

async function server(target: string, shards: number): Promise<Started> {
  if (target === 'raw') return startProcess('bench/fixtures/raw-fanout.ts', { RAW_THREADS: String(shards) });
  if (target === 'socketio') return startProcess('bench/fixtures/socketio-fanout.ts', {});
  return startProcess('src/server/main.ts', {
    IM_SHARDS: String(shards), IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET,
    IM_LOG_LEVEL: 'warn', IM_HOST: '127.0.0.1', IM_QUEUE_LIMIT: '100000', IM_GROUP_DB: ':memory:', IM_STORE: 'off',
  });
}

async function measure(target: string, shards: number, pool: Piscina): Promise<Row> {
  const srv = await server(target, shards);
  try {
    const port = (srv.ready.tcp ?? srv.ready.port) as number;
    const { results, cores } = await driveFanout(pool, {
      target: target as FanoutTask['target'], port, pid: srv.proc.pid!, receivers: R, senders: S, threads: T, seconds: SECONDS, window: WINDOW, secret: SECRET,
    });
    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    for (const r of results) for (const l of r.latencies) if (l >= 1) h.recordValue(Math.min(l, 60_000_000));
    const received = results.reduce((n, r) => n + r.received, 0);
    return {
      name: target === 'im' ? `im, IM_SHARDS=${shards}`
        : target === 'raw' ? (shards > 1 ? `raw net fan-out, ${shards} threads` : 'raw net fan-out (ceiling)') : 'socket.io rooms (websocket)',
      deliveries: received / SECONDS,
      p50: h.getValueAtPercentile(50) / 1000,
      p99: h.getValueAtPercentile(99) / 1000,
      cores,
      peakMiB: memoryKiB(srv.proc.pid!).peak / 1024,
    };
  } finally {
    await srv.stop();
  }
}

const pool = new Piscina({ filename: new URL('./fixtures/fanout-worker.ts', import.meta.url).href, minThreads: T, maxThreads: T, idleTimeout: 60_000 });
const rows: Row[] = [];
for (const target of TARGETS) {
  // raw runs once single-threaded, and once per shard count above 1 as N threads (its ceiling).
  const sweep = target === 'im' ? SHARDS : target === 'raw' ? [1, ...SHARDS.filter((n) => n > 1)] : [0];
  for (const shards of sweep) {
    const row = await measure(target, shards, pool);
    rows.push(row);
    console.error(`${row.name}: ${fmt(row.deliveries)} deliveries/s`);
  }
}
await pool.destroy();

const raw = rows.find((r) => r.name.startsWith('raw net fan-out (ceiling)'));
const rawN = (r: Row) => rows.find((x) => x.name === `raw net fan-out, ${/IM_SHARDS=(\d+)/.exec(r.name)?.[1]} threads`);
const sio = rows.find((r) => r.name.startsWith('socket.io'));
console.log(`\n## fan-out: ${R} receivers in one room, ${S} senders, 64-byte messages, ${T} load threads, ${SECONDS} s`);
console.log('| server | deliveries/s | p50 ms | p99 ms | server cores busy | peak RSS MiB | vs raw | vs raw, N threads | vs socket.io |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const vs = (b: Row | undefined) => (b ? (r.deliveries / b.deliveries).toFixed(2) : '–');
  console.log(`| ${r.name} | ${fmt(r.deliveries)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cores.toFixed(2)} | ${r.peakMiB.toFixed(0)} | ${vs(raw)} | ${vs(rawN(r))} | ${vs(sio)} |`);
}
