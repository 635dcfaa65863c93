/**
 * `npm run bench:scaling`: the cost of every extra shard. The same fixed load, below
 * saturation, on one access server with IM_SHARDS 1, 2 and 4 (store off): room fan-out (one
 * sender, SCALING_ROOM receivers in one room) and peer IM between pairs whose two ends sit on
 * different shards (connections are spread round the shards in turn). The server's CPU is
 * read from /proc, thread by thread, over each run: µs of CPU a delivered message, in all
 * and by kind of thread, so that a host with N cores can be sized from it.
 * Env: SCALING_SHARDS (1,2,4), SCALING_SECONDS (5), SCALING_ROOM (1000), SCALING_ROOM_RATE
 * (10 messages/s), SCALING_PAIRS (50), SCALING_PEER_RATE (4000 messages/s).
 */
import type { ImClient } from '../src/client/index.ts';
import { startProcess } from '../test/helpers/process.ts';
import { SECRET, client, drive } from './peer-load.ts';
import { threadCpu } from './proc.ts';

const SHARDS = (process.env.SCALING_SHARDS ?? '1,2,4').split(',').map(Number);
const SECONDS = Number(process.env.SCALING_SECONDS ?? 5);
const ROOM = Number(process.env.SCALING_ROOM ?? 1000);
const ROOM_RATE = Number(process.env.SCALING_ROOM_RATE ?? 10);
const PAIRS = Number(process.env.SCALING_PAIRS ?? 50);
const PEER_RATE = Number(process.env.SCALING_PEER_RATE ?? 4000);

/** Threads by kind: every shard-N is "shards". */
const kind = (raw: string) => (raw.startsWith('shard-') ? 'shards' : raw === 'node-MainThread' ? 'main' : raw.startsWith('channel') || raw.startsWith('store') ? raw : 'other');
const cpuOf = (pid: number) => threadCpu(pid, kind);

function spent(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

async function roomFanout(port: number, pid: number): Promise<{ delivered: number; cpu: Map<string, number> }> {
  const receivers: ImClient[] = [];
  for (let i = 0; i < ROOM; i++) receivers.push(await client(port, 100_000 + i));
  let delivered = 0;
  for (const r of receivers) {
    r.enterRoom(42);
    r.on('room_im', () => { delivered++; });
  }
  const sender = await client(port, 99_999);
  sender.enterRoom(42);
  for (const r of receivers) await r.ping();
  await sender.ping();
  const before = cpuOf(pid);
  const end = performance.now() + SECONDS * 1000;
  delivered = 0;
  for (let n = 0; performance.now() < end; n++) {
    sender.post((await import('../src/protocol/index.ts')).codecs.ROOM_IM, { sender: 99_999, receiver: 42, content: Buffer.alloc(64, 1) });
    await new Promise((r) => setTimeout(r, 1000 / ROOM_RATE));
  }
  for (const r of receivers) await r.ping();
  const cpu = spent(before, cpuOf(pid));
  for (const c of [sender, ...receivers]) c.destroy();
  return { delivered, cpu };
}

async function crossShardPeers(port: number, pid: number): Promise<{ delivered: number; cpu: Map<string, number> }> {
  // Connected in turn, a sender and its receiver land on shards next to each other.
  const senders: ImClient[] = [];
  const receivers: ImClient[] = [];
  for (let i = 0; i < PAIRS; i++) {
    senders.push(await client(port, 1 + i));
    receivers.push(await client(port, 10_001 + i));
  }
  const before = cpuOf(pid);
  const r = await drive(senders, receivers, SECONDS, 16, PEER_RATE);
  const cpu = spent(before, cpuOf(pid));
  for (const c of [...senders, ...receivers]) c.destroy();
  return { delivered: r.perSec * SECONDS, cpu };
}

const rows: string[] = [];
const base = new Map<string, number>();
for (const n of SHARDS) {
  const im = await startProcess('src/server/main.ts', {
    IM_SHARDS: String(n), IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off',
  });
  try {
    for (const [name, run] of [['room fan-out', roomFanout], ['peer IM across shards', crossShardPeers]] as const) {
      const { delivered, cpu } = await run(im.ready.tcp as number, im.proc.pid!);
      const total = [...cpu.values()].reduce((a, b) => a + b, 0);
      const us = (s: number) => (s * 1e6) / Math.max(1, delivered);
      if (n === SHARDS[0]) base.set(name, us(total));
      rows.push(`| ${name} | ${n} | ${Math.round(delivered / SECONDS)} | ${us(total).toFixed(2)} | ${(us(total) / base.get(name)!).toFixed(2)} | ${us(cpu.get('shards') ?? 0).toFixed(2)} | ${us(cpu.get('main') ?? 0).toFixed(2)} | ${us((cpu.get('other') ?? 0) + (cpu.get('channel') ?? 0)).toFixed(2)} |`);
    }
  } finally {
    await im.stop();
  }
}
console.log(`room fan-out: ${ROOM} receivers, ${ROOM_RATE} messages/s; peer IM: ${PAIRS} pairs at ${PEER_RATE}/s; ${SECONDS} s a run; store off`);
console.log('| load | IM_SHARDS | delivered/s | server CPU µs a delivery | vs 1 shard | shard threads µs | main thread µs | other threads µs |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows.sort()) console.log(r);
