/**
 * Cross-server messaging: peer messages from clients on access server A to clients on access
 * server B through one router, against the same traffic inside server A alone, measured in
 * the same run. First at the most each setup delivers (a window of messages in flight per
 * sender), then paced at half, a quarter of that rate and 2,000 messages/s, for latency
 * when the load is not at its peak. Then the Channel's router link on
 * its own: frames/s to a router socket with per-turn batching, against a plain socket that
 * corks each turn's frames (the fair alternative).
 * With CLUSTER_STORE=postgres the servers store every IM in one PostgreSQL they share, with
 * its default durability (fsync and synchronous_commit on), as a cluster runs it; the
 * router link's own table is left out then.
 * Run: npm run bench:cluster   (CLUSTER_PAIRS, CLUSTER_SECONDS, CLUSTER_WINDOW, CLUSTER_STORE=off|postgres)
 */
import net from 'node:net';
import { once } from 'node:events';
import { codecs, encodeFrame } from '../src/protocol/index.ts';
import { RouterLink } from '../src/channel/router-link.ts';
import { startProcess, type Started } from '../test/helpers/process.ts';
import { startPostgres, type Postgres } from '../test/helpers/postgres.ts';
import { fmt } from './harness.ts';
import { SECRET, client, drive, type Result } from './peer-load.ts';

const PAIRS = Number(process.env.CLUSTER_PAIRS ?? 50);
const SECONDS = Number(process.env.CLUSTER_SECONDS ?? 4);
const WINDOW = Number(process.env.CLUSTER_WINDOW ?? 16);
const STORE = process.env.CLUSTER_STORE ?? 'off';
let pg: Postgres | undefined;

/** BENCH_PROFILE_DIR=DIR: the servers write CPU profiles there (one per thread) when they exit. */
function profiling(): Record<string, string> {
  const dir = process.env.BENCH_PROFILE_DIR;
  return dir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` } : {};
}

function im(routeAddr?: string): Promise<Started> {
  return startProcess('src/server/main.ts', {
    IM_SHARDS: '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: STORE, ...(pg ? { IM_STORE_URL: pg.url } : {}),
    ...(routeAddr ? { IM_ROUTE_ADDRS: routeAddr } : {}),
    ...profiling(),
  });
}

interface Sweep { max: Result; half: Result; quarter: Result; low: Result }

async function scenario(cross: boolean): Promise<Sweep> {
  const procs: Started[] = [];
  try {
    let portA: number;
    let portB: number;
    if (cross) {
      const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', ...profiling() });
      procs.push(imr);
      const addr = `127.0.0.1:${imr.ready.port}`;
      const [a, b] = await Promise.all([im(addr), im(addr)]);
      procs.push(a, b);
      portA = a.ready.tcp as number;
      portB = b.ready.tcp as number;
    } else {
      const a = await im();
      procs.push(a);
      portA = portB = a.ready.tcp as number;
    }
    const senders = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(portA, 1 + i)));
    const receivers = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(portB, 10_001 + i)));
    await new Promise((r) => setTimeout(r, 500)); // subscriptions reach the router
    const max = await drive(senders, receivers, SECONDS, WINDOW);
    const half = await drive(senders, receivers, SECONDS, WINDOW, max.perSec / 2);
    const quarter = await drive(senders, receivers, SECONDS, WINDOW, max.perSec / 4);
    const low = await drive(senders, receivers, SECONDS, WINDOW, 2000);
    for (const c of [...senders, ...receivers]) c.destroy();
    return { max, half, quarter, low };
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
}

const PUBLISH_FRAME = encodeFrame(codecs.PUBLISH, { appid: 1, receiver: 2, msgid: 0, device_id: 0, timestamp: 0n, message: Buffer.alloc(76, 1) }, 0, 0);

/**
 * Frames/s a writer gets into a socket: `open` connects it to a sink and returns what to do
 * each turn (write 2000 frames) and how to end; measured over 2 s after 0.5 s of warm-up.
 */
async function framesPerSecond(open: (port: number) => Promise<{ turn(): void; end(): Promise<void> }>): Promise<number> {
  let bytes = 0;
  const sink = net.createServer((s) => s.on('data', (c: Buffer) => { bytes += c.length; }));
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const w = await open((sink.address() as net.AddressInfo).port);
  let running = true;
  const pump = () => {
    if (!running) return;
    w.turn();
    setImmediate(pump);
  };
  pump();
  await new Promise((r) => setTimeout(r, 500));
  const b0 = bytes;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 2000));
  const perSec = ((bytes - b0) / PUBLISH_FRAME.length) / ((performance.now() - t0) / 1000);
  running = false;
  await w.end();
  sink.close();
  return perSec;
}

/** The Channel's router link alone: frames into a router socket, batched per turn. */
function linkThroughput(batchBytes: number): Promise<number> {
  return framesPerSecond(async (port) => {
    const link = new RouterLink({ host: '127.0.0.1', port },
      { up: () => {}, down: () => {}, frame: () => {}, invalid: () => {}, backlog: () => {} }, { batchBytes, holdFrames: 0, limitBytes: 64 * 1024 * 1024, reconnectMaxMs: 2000 });
    link.start();
    while (!link.up) await new Promise((r) => setTimeout(r, 10));
    return { turn: () => { for (let i = 0; i < 2000; i++) link.sendPublish(PUBLISH_FRAME); }, end: () => link.stop() };
  });
}

/**
 * The fair alternative to the link: a plain socket that corks each turn's frames and
 * uncorks them together (Node then hands the kernel one writev), what a careful
 * implementation without the link's batching would do. Like the link, it lets at most
 * 64 MiB wait for the socket.
 */
function corkedThroughput(): Promise<number> {
  return framesPerSecond(async (port) => {
    const s = net.connect({ host: '127.0.0.1', port });
    await once(s, 'connect');
    s.setNoDelay(true);
    return {
      turn: () => {
        if (s.writableLength >= 64 * 1024 * 1024) return;
        s.cork();
        for (let i = 0; i < 2000; i++) s.write(PUBLISH_FRAME);
        s.uncork();
      },
      end: async () => { s.destroy(); },
    };
  });
}

if (STORE === 'postgres') pg = await startPostgres({ durable: true });
const single = await scenario(false);
const cross = await scenario(true);
await pg?.stop();

console.log(`\n## peer messages, ${PAIRS} sender/receiver pairs, 64-byte content, window ${WINDOW}, ${SECONDS} s, store ${STORE}${pg ? ' (PostgreSQL, fsync on)' : ''}`);
console.log('| path | max messages/s | p50 ms | p99 ms | at half rate: messages/s | p50 ms | p99 ms | vs one server |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [name, r] of [['inside one server (reference)', single], ['server A → router → server B', cross]] as const) {
  console.log(`| ${name} | ${fmt(r.max.perSec)} | ${r.max.p50.toFixed(2)} | ${r.max.p99.toFixed(2)} | ${fmt(r.half.perSec)} | ${r.half.p50.toFixed(2)} | ${r.half.p99.toFixed(2)} | ${(r.max.perSec / single.max.perSec).toFixed(2)} |`);
}
console.log('\n## latency by rate: p50 / p99 ms');
console.log('| path | max | half | quarter | 2,000/s |');
console.log('|---|---|---|---|---|');
for (const [name, r] of [['inside one server (reference)', single], ['server A → router → server B', cross]] as const) {
  const cell = (x: Result) => `${fmt(x.perSec)}/s: ${x.p50.toFixed(2)} / ${x.p99.toFixed(2)}`;
  console.log(`| ${name} | ${cell(r.max)} | ${cell(r.half)} | ${cell(r.quarter)} | ${cell(r.low)} |`);
}
if (STORE === 'off') {
  const batched = await linkThroughput(256 * 1024);
  const corked = await corkedThroughput();
  console.log('\n## Channel router link alone (PUBLISH frames of 130 bytes)');
  console.log('| writes | frames/s | vs a corked socket |');
  console.log('|---|---:|---:|');
  console.log(`| a plain socket, each turn's frames corked into one writev | ${fmt(corked)} | 1.00 |`);
  console.log(`| the router link, batched per turn (IM_CHANNEL_BATCH_BYTES 256 KiB) | ${fmt(batched)} | ${(batched / corked).toFixed(2)} |`);
}
