/**
 * What waiting costs, in live bytes after a full GC (V8 heap plus Buffers outside it):
 * per client that stopped reading, per frame queued for it, and (in the router) per
 * subscription. The access server runs with IM_TEST_HOOKS=1 and --expose-gc; the router's
 * figure is its RSS growth, the only view it offers.
 * Run: npm run bench:held   (HELD_RECEIVERS, HELD_FRAMES, HELD_SUBSCRIPTIONS)
 */
import net from 'node:net';
import { once } from 'node:events';
import { codecs, encodeFrame } from '../src/protocol/index.ts';
import { signToken } from '../src/auth/jwt.ts';
import { startProcess } from '../test/helpers/process.ts';
import { memoryKiB } from './proc.ts';
import { SECRET, client } from './peer-load.ts';

const RECEIVERS = Number(process.env.HELD_RECEIVERS ?? 20);
const FRAMES = Number(process.env.HELD_FRAMES ?? 300);
const SUBSCRIPTIONS = Number(process.env.HELD_SUBSCRIPTIONS ?? 100_000);

async function live(http: number): Promise<number> {
  await fetch(`http://127.0.0.1:${http}/debug/gc`, { method: 'POST' });
  await new Promise((r) => setTimeout(r, 300));
  const shards = (await (await fetch(`http://127.0.0.1:${http}/summary`)).json() as { shards: { heap_used: number; external: number }[] }).shards;
  return shards.reduce((n, s) => n + s.heap_used + s.external, 0);
}

const im = await startProcess('src/server/main.ts', {
  IM_SHARDS: '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
  IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off', IM_TEST_HOOKS: '1', NODE_OPTIONS: '--expose-gc',
  IM_QUEUE_LIMIT: String(FRAMES), IM_QUEUE_POLICY: 'drop-oldest',
});
const port = im.ready.tcp as number;
const http = im.ready.http as number;
const empty = await live(http);
const blocked: net.Socket[] = [];
for (let i = 0; i < RECEIVERS; i++) {
  const s = net.connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  s.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await signToken(SECRET, 1, 1000 + i), device_id: `d${i}` }, 1, 2));
  await once(s, 'data');
  s.pause();
  blocked.push(s);
}
const connected = await live(http);
const sender = await client(port, 1);
// Fill each socket (large frames), then its queue with small 44-byte ones.
for (let i = 0; i < RECEIVERS; i++) for (let k = 0; k < 200; k++) sender.sendRT({ receiver: 1000 + i, content: Buffer.alloc(30_000) });
await sender.ping();
const filled = await live(http);
for (let i = 0; i < RECEIVERS; i++) for (let k = 0; k < 2 * FRAMES; k++) sender.sendRT({ receiver: 1000 + i, content: Buffer.alloc(28) });
await sender.ping();
const queued = await live(http);
sender.destroy();
for (const s of blocked) s.destroy();
await im.stop();

const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
await new Promise((r) => setTimeout(r, 500));
const before = memoryKiB(imr.proc.pid!).rss;
const link = net.connect({ port: imr.ready.port as number, host: '127.0.0.1' });
await once(link, 'connect');
for (let uid = 0; uid < SUBSCRIPTIONS; uid += 1000) {
  link.write(Buffer.concat(Array.from({ length: 1000 }, (_, k) => encodeFrame(codecs.SUBSCRIBE, { appid: 1, uid: uid + k, online: 1 }, 1, 0))));
}
const end = Date.now() + 20_000;
while (Date.now() < end) {
  const users = (await (await fetch(`http://127.0.0.1:${imr.ready.httpPort}/all_online`)).json() as { users: number[] }[])[0]?.users.length ?? 0;
  if (users >= SUBSCRIPTIONS) break;
  await new Promise((r) => setTimeout(r, 200));
}
const after = memoryKiB(imr.proc.pid!).rss;
link.destroy();
await imr.stop();

const kib = (b: number) => (b / 1024).toFixed(2);
console.log(`\n## what waiting costs (live bytes after GC, one shard; router: RSS)`);
console.log('| what | bytes each |');
console.log('|---|---:|');
console.log(`| an authenticated connection (${RECEIVERS}) | ${kib((connected - empty) / RECEIVERS)} KiB |`);
console.log(`| a blocked receiver with its socket's buffer full (200 × 30 KB sent) | ${kib((filled - connected) / RECEIVERS)} KiB |`);
console.log(`| a 44-byte frame queued for a blocked receiver (${FRAMES} each, the rest dropped) | ${((queued - filled) / (RECEIVERS * FRAMES)).toFixed(0)} B |`);
console.log(`| a router subscription (${SUBSCRIPTIONS} users on one link) | ${(((after - before) * 1024) / SUBSCRIPTIONS).toFixed(0)} B |`);
