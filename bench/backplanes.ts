/**
 * The two ways of linking access servers, for bench/cluster.ts: `imr` routers and a NATS
 * cluster, each started the same way and measured with the same load.
 */
import { startProcess, type Started } from '../test/helpers/process.ts';
import { startNats, type NatsCluster } from '../test/helpers/nats.ts';
import type { ImClient } from '../src/client/index.ts';
import { cpuSeconds, memoryKiB } from './proc.ts';
import { SECRET, client } from './peer-load.ts';

/** A router; NATS with the servers on different nodes of the cluster; NATS with them all on one node. */
export type Backplane = 'router' | 'nats' | 'nats1';

export interface Servers {
  ports: number[];
  /** Each server's HTTP port (the servers run with IM_TEST_HOOKS: /debug/gc). */
  http: number[];
  stop(): Promise<void>;
}

/** BENCH_PROFILE_DIR=DIR: the servers write CPU profiles there (one per thread) when they exit. */
export function profiling(): Record<string, string> {
  const dir = process.env.BENCH_PROFILE_DIR;
  return dir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` } : {};
}

export function im(env: Record<string, string>): Promise<Started> {
  return startProcess('src/server/main.ts', {
    IM_SHARDS: '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', ...env, ...profiling(),
  });
}

/**
 * `n` access servers linked by one router, or each on its own node of `nats` (so that what
 * crosses servers crosses the NATS cluster's routes too, as it does between hosts).
 */
export async function linked(kind: Backplane, n: number, nats: NatsCluster, env: Record<string, string> = {}): Promise<Servers & { router?: Started }> {
  const procs: Started[] = [];
  let router: Started | undefined;
  if (kind === 'router') {
    router = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', ...profiling() });
    procs.push(router);
  }
  for (let i = 0; i < n; i++) {
    const node = kind === 'nats1' ? 0 : i % nats.urls.length;
    procs.push(await im({ ...env, IM_TEST_HOOKS: '1', ...(kind === 'router' ? { IM_ROUTE_ADDRS: `127.0.0.1:${router!.ready.port}` } : { IM_NATS_URL: nats.urls[node]! }) }));
  }
  return {
    router,
    ports: procs.filter((p) => p !== router).map((p) => p.ready.tcp as number),
    http: procs.filter((p) => p !== router).map((p) => p.ready.http as number),
    async stop() {
      for (const p of procs.reverse()) await p.stop();
    },
  };
}

export function natsCluster(): Promise<NatsCluster> {
  return startNats({ size: 3 });
}

/** Waits until `check` holds, polling; throws after `ms`. */
export async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Room fan-out across three servers: `perServer` members on each, one sender on the first
 * sending room messages with `window` in flight; deliveries/s counted at every member.
 */
export async function roomFanout(ports: number[], perServer: number, seconds: number, window: number): Promise<number> {
  const ROOM = 77;
  const members: ImClient[] = [];
  for (let s = 0; s < ports.length; s++) {
    members.push(...await Promise.all(Array.from({ length: perServer }, (_, i) => client(ports[s]!, 50_000 + s * perServer + i))));
  }
  const sender = await client(ports[0]!, 49_999);
  for (const m of [...members, sender]) m.enterRoom(ROOM);
  for (const m of members) await m.ping();
  let delivered = 0;
  let lastSeen = 0;
  for (const m of members) m.on('room_im', (r) => { delivered++; lastSeen = Math.max(lastSeen, r.content.readUInt32BE(0)); });
  // Until the room's interest has spread: one probe reaches the farthest server's members.
  const probe = Buffer.alloc(8);
  await until(async () => {
    sender.sendRoomIM({ room: ROOM, content: probe }).catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    return delivered >= members.length;
  }, 15_000, 'room interest');
  let sent = 0;
  let running = true;
  const content = Buffer.alloc(64);
  const pump = () => {
    if (!running) return;
    // A window of messages not yet seen by the members (sent − last seen).
    while (sent - lastSeen < window) {
      content.writeUInt32BE(++sent, 0);
      sender.sendRoomIM({ room: ROOM, content: Buffer.from(content) }).catch(() => {});
    }
    setImmediate(pump);
  };
  pump();
  await new Promise((r) => setTimeout(r, 1000));
  const d0 = delivered;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const perSec = (delivered - d0) / ((performance.now() - t0) / 1000);
  running = false;
  for (const m of [...members, sender]) m.destroy();
  return perSec;
}

export interface Storm {
  perSec: number;
  /** The Channel thread's heap per user after a full GC: what the link keeps per user (router state, or the NATS client's subscription). */
  channelBytesPerUser: number;
  natsCpuMsPerK?: number;
  /** Resident memory each NATS node grew by, per subscription: the node the server is on, then the two that hold the interest by route. */
  natsBytesPerSub?: number[];
}

/** The Channel thread's V8 heap in use on the server at `httpPort`, after a full GC. */
async function channelHeap(httpPort: number): Promise<number> {
  await fetch(`http://127.0.0.1:${httpPort}/debug/gc`, { method: 'POST' });
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/im_thread_memory_bytes\{thread="channel",kind="heap"\} (\d+)/.exec(text)?.[1] ?? NaN);
}

/**
 * A login storm: `users` clients log in on the first server at once; timed until the
 * backplane holds every one of them (the router's /all_online, or NATS's subscription
 * count). For NATS, the node's CPU over the storm and its memory growth per subscription.
 */
export async function loginStorm(kind: Backplane, s: Servers & { router?: Started }, nats: NatsCluster, users: number): Promise<Storm> {
  const subs = async () => (await nats.monitor(0, '/subsz')).num_subscriptions as number;
  const routerUsers = async () => {
    const r = await fetch(`http://127.0.0.1:${s.router!.ready.httpPort as number}/all_online`);
    const body = await r.json() as { users: number[] }[];
    return body.reduce((n, a) => n + a.users.length, 0);
  };
  // What an earlier load left is still being unsubscribed: start from a count that holds still.
  let before = kind !== 'router' ? await subs() : 0;
  for (let still = 0; kind !== 'router' && still < 5; still++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await subs();
    if (now !== before) still = -1;
    before = now;
  }
  const heap0 = await channelHeap(s.http[0]!);
  const pid = nats.pid(0);
  const cpu0 = cpuSeconds(pid);
  const rss = () => [0, 1, 2].map((i) => memoryKiB(nats.pid(i)).rss);
  const mem0 = rss();
  const t0 = performance.now();
  const clients: ImClient[] = [];
  for (let b = 0; b < users; b += 250) {
    clients.push(...await Promise.all(Array.from({ length: Math.min(250, users - b) }, (_, i) => client(s.ports[0]!, 100_000 + b + i))));
  }
  // Each user is one subscription through NATS (its subject).
  await until(async () => (kind !== 'router' ? (await subs()) - before >= users : (await routerUsers()) >= users), 60_000, 'the storm subscribed');
  const secs = (performance.now() - t0) / 1000;
  const out: Storm = { perSec: users / secs, channelBytesPerUser: ((await channelHeap(s.http[0]!)) - heap0) / users };
  if (kind !== 'router') {
    out.natsCpuMsPerK = ((cpuSeconds(pid) - cpu0) * 1000) / (users / 1000);
    const mem1 = rss();
    out.natsBytesPerSub = mem1.map((m, i) => ((m - mem0[i]!) * 1024) / users);
  }
  for (const c of clients) c.destroy();
  return out;
}
