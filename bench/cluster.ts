/**
 * Cross-server messaging: peer messages from clients on access server A to clients on access
 * server B, through one router and through a three-node NATS cluster (A and B on different
 * nodes), against the same traffic inside server A alone, measured in the same run; with
 * CLUSTER_ROUNDS > 1 the router and NATS alternate, round after round. First at the most
 * each setup delivers (a window of messages in flight per sender), then paced at half, a
 * quarter of that rate and 2,000 messages/s, for latency when the load is not at its peak.
 * Then, for both backplanes: room fan-out across three servers, and a login storm
 * (subscriptions per second; for NATS the node's CPU and memory per subscription). Then the
 * Channel's router link on its own: frames/s to a router socket with per-turn batching,
 * against a plain socket that corks each turn's frames (the fair alternative).
 * With CLUSTER_STORE=postgres the servers store every IM in one PostgreSQL they share, with
 * its default durability (fsync and synchronous_commit on), as a cluster runs it; the
 * router link's own table is left out then.
 * Run: npm run bench:cluster   (CLUSTER_PAIRS, CLUSTER_SECONDS, CLUSTER_WINDOW, CLUSTER_ROUNDS,
 * CLUSTER_STORE=off|postgres, CLUSTER_ROOM_MEMBERS per server, CLUSTER_STORM_USERS,
 * CLUSTER_PARTS=peer,room,storm,link to run some of it)
 */
import net from 'node:net';
import { once } from 'node:events';
import { codecs, encodeFrame } from '../src/protocol/index.ts';
import { RouterLink } from '../src/channel/router-link.ts';
import type { Started } from '../test/helpers/process.ts';
import { startPostgres, type Postgres } from '../test/helpers/postgres.ts';
import { fmt } from './harness.ts';
import { client, drive, type Result } from './peer-load.ts';
import { im, linked, loginStorm, natsCluster, roomFanout, type Backplane, type Storm } from './backplanes.ts';
import type { NatsCluster } from '../test/helpers/nats.ts';

const PAIRS = Number(process.env.CLUSTER_PAIRS ?? 50);
const SECONDS = Number(process.env.CLUSTER_SECONDS ?? 4);
const WINDOW = Number(process.env.CLUSTER_WINDOW ?? 16);
const ROUNDS = Number(process.env.CLUSTER_ROUNDS ?? 1);
const STORE = process.env.CLUSTER_STORE ?? 'off';
const ROOM_MEMBERS = Number(process.env.CLUSTER_ROOM_MEMBERS ?? 100);
const STORM_USERS = Number(process.env.CLUSTER_STORM_USERS ?? 5000);
/** Which parts run: peer (cross-server peer IM), room and storm (fan-out and login storm), link (the router link alone). */
const PARTS = new Set((process.env.CLUSTER_PARTS ?? 'peer,room,storm,link').split(','));
let pg: Postgres | undefined;
const storeEnv = () => ({ IM_STORE: STORE, ...(pg ? { IM_STORE_URL: pg.url } : {}) });

interface Sweep { max: Result; half: Result; quarter: Result; low: Result }

async function scenario(path: 'single' | Backplane, nats: NatsCluster): Promise<Sweep> {
  let stop: () => Promise<void>;
  let portA: number;
  let portB: number;
  if (path === 'single') {
    const a: Started = await im(storeEnv());
    stop = async () => { await a.stop(); };
    portA = portB = a.ready.tcp as number;
  } else {
    const s = await linked(path, 2, nats, storeEnv());
    stop = () => s.stop();
    [portA, portB] = s.ports as [number, number];
  }
  try {
    const senders = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(portA, 1 + i)));
    const receivers = await Promise.all(Array.from({ length: PAIRS }, (_, i) => client(portB, 10_001 + i)));
    await new Promise((r) => setTimeout(r, 500)); // subscriptions reach the router or NATS
    const max = await drive(senders, receivers, SECONDS, WINDOW);
    const half = await drive(senders, receivers, SECONDS, WINDOW, max.perSec / 2);
    const quarter = await drive(senders, receivers, SECONDS, WINDOW, max.perSec / 4);
    const low = await drive(senders, receivers, SECONDS, WINDOW, 2000);
    for (const c of [...senders, ...receivers]) c.destroy();
    return { max, half, quarter, low };
  } finally {
    await stop();
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
const nats = await natsCluster();
const single = PARTS.has('peer') ? await scenario('single', nats) : undefined;
const runs: Record<Backplane, Sweep[]> = { router: [], nats: [], nats1: [] };
for (let r = 0; PARTS.has('peer') && r < ROUNDS; r++) {
  for (const b of (r % 2 === 0 ? ['router', 'nats', 'nats1'] : ['nats1', 'nats', 'router']) as Backplane[]) runs[b].push(await scenario(b, nats));
}
const rooms: Partial<Record<Backplane, number>> = {};
const storms: Partial<Record<Backplane, Storm>> = {};
for (const b of ['router', 'nats'] as Backplane[]) {
  if (!PARTS.has('room') && !PARTS.has('storm')) break;
  const s = await linked(b, 3, nats, { IM_STORE: 'off' });
  try {
    if (PARTS.has('room')) rooms[b] = await roomFanout(s.ports, ROOM_MEMBERS, SECONDS, 64);
    if (PARTS.has('storm')) storms[b] = await loginStorm(b, s, nats, STORM_USERS);
  } finally {
    await s.stop();
  }
}
await nats.stop();
await pg?.stop();

if (single !== undefined) {
  /** The round with the median max rate. */
  const median = (xs: Sweep[]) => [...xs].sort((a, b) => a.max.perSec - b.max.perSec)[Math.floor(xs.length / 2)]!;
  const router = median(runs.router);
  const natsRun = median(runs.nats);
  const nats1Run = median(runs.nats1);
  const rows = [['inside one server (reference)', single], ['server A → router → server B', router],
    ['server A → NATS node 1 → NATS node 2 → server B', natsRun], ['server A → NATS node 1 → server B', nats1Run]] as const;

  console.log(`\n## peer messages, ${PAIRS} sender/receiver pairs, 64-byte content, window ${WINDOW}, ${SECONDS} s, store ${STORE}${pg ? ' (PostgreSQL, fsync on)' : ''}, ${ROUNDS} round(s) alternating (median)`);
  console.log('| path | max messages/s | p50 ms | p99 ms | at half rate: messages/s | p50 ms | p99 ms | vs one server |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, r] of rows) {
    console.log(`| ${name} | ${fmt(r.max.perSec)} | ${r.max.p50.toFixed(2)} | ${r.max.p99.toFixed(2)} | ${fmt(r.half.perSec)} | ${r.half.p50.toFixed(2)} | ${r.half.p99.toFixed(2)} | ${(r.max.perSec / single.max.perSec).toFixed(2)} |`);
  }
  const each = (b: Backplane) => runs[b].map((n, i) => (n.max.perSec / runs.router[i]!.max.perSec).toFixed(2)).join(', ');
  console.log(`\nAgainst the router in the same round, max rate: NATS across two nodes ${each('nats')}; NATS on one node ${each('nats1')}`);
  console.log('\n## latency by rate: p50 / p99 ms');
  console.log('| path | max | half | quarter | 2,000/s |');
  console.log('|---|---|---|---|---|');
  for (const [name, r] of rows) {
    const cell = (x: Result) => `${fmt(x.perSec)}/s: ${x.p50.toFixed(2)} / ${x.p99.toFixed(2)}`;
    console.log(`| ${name} | ${cell(r.max)} | ${cell(r.half)} | ${cell(r.quarter)} | ${cell(r.low)} |`);
  }
}
if (PARTS.has('room') || PARTS.has('storm')) {
  console.log(`\n## room fan-out across three servers (${ROOM_MEMBERS} members each, one sender, window 64) and a login storm (${STORM_USERS} users on one server)`);
  console.log('| backplane | room deliveries/s | storm: users subscribed/s | Channel thread heap per user | NATS node CPU ms per 1,000 users | NATS node memory per subscription |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const b of ['router', 'nats'] as Backplane[]) {
    const st = storms[b];
    const r = rooms[b];
    console.log(`| ${b} | ${r === undefined ? '–' : fmt(r)} | ${st === undefined ? '–' : fmt(st.perSec)} | ${st === undefined ? '–' : `${Math.round(st.channelBytesPerUser)} B`} | ${st?.natsCpuMsPerK?.toFixed(0) ?? '–'} | ${st?.natsBytesPerSub === undefined ? '–' : st.natsBytesPerSub.map((b) => `${Math.round(b)} B`).join(', ')} |`);
  }
}
if (STORE === 'off' && PARTS.has('link')) {
  const batched = await linkThroughput(256 * 1024);
  const corked = await corkedThroughput();
  console.log('\n## Channel router link alone (PUBLISH frames of 130 bytes)');
  console.log('| writes | frames/s | vs a corked socket |');
  console.log('|---|---:|---:|');
  console.log(`| a plain socket, each turn's frames corked into one writev | ${fmt(corked)} | 1.00 |`);
  console.log(`| the router link, batched per turn (IM_CHANNEL_BATCH_BYTES 256 KiB) | ${fmt(batched)} | ${(batched / corked).toFixed(2)} |`);
}
