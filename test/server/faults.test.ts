import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { ImClient } from '../../src/client/index.ts';
import { codecs, encodeFrame } from '../../src/protocol/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, record, startIm, token, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 9;
let im: Im;
const clients: ImClient[] = [];

test.before(loud(async () => {
  // Test hooks with --expose-gc: memory is read as live heap after a full GC (/debug/gc).
  im = await startIm({ IM_STORE: 'off', IM_TEST_HOOKS: '1', NODE_OPTIONS: '--expose-gc', IM_SHARDS: '2', IM_AUTH_TIMEOUT_S: '1', IM_CLIENT_TIMEOUT_S: '3', IM_QUEUE_LIMIT: '50', IM_QUEUE_POLICY: 'drop-oldest', IM_SUBSCRIBER_CAPACITY: '40' });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  assert.is(await im?.stop(), 0);
}));

async function pair(): Promise<[ImClient, ImClient]> {
  const a = await login(im, APP, 1);
  const b = await login(im, APP, 2);
  clients.push(a, b);
  return [a, b];
}

async function rawTcp(): Promise<net.Socket> {
  const s = net.connect({ port: im.port, host: '127.0.0.1' });
  await once(s, 'connect');
  s.on('error', () => {});
  return s;
}

async function closedWithin(s: net.Socket | WebSocket, ms = 3000): Promise<void> {
  await Promise.race([once(s, 'close'), new Promise((_, reject) => setTimeout(() => reject(new Error('not closed')), ms))]);
}

async function stillWorks(a: ImClient, b: ImClient, text: string): Promise<void> {
  const got = b.next('im');
  await a.sendIM({ receiver: 2, content: text });
  assert.is((await got)[0].content.toString(), text);
}

test('garbage, an oversized length and a server-only cmd each close only their own connection', async () => {
  const [a, b] = await pair();
  const before = (await httpJson(im.httpPort, '/summary')).body.shards.reduce((n: number, s: { invalidFrames: number }) => n + s.invalidFrames, 0);
  for (const bytes of [
    Buffer.from('this is not a frame at all, just text\r\n'),
    Buffer.from('7fffffff000000010402000000', 'hex'),
    encodeFrame(codecs.SYSTEM, { content: Buffer.from('server only') }, 1, 2),
    encodeFrame(codecs.SUBSCRIBE, { appid: APP, uid: 2, online: 1 }, 1, 0),
  ]) {
    const s = await rawTcp();
    s.write(bytes);
    await closedWithin(s);
  }
  // After a good auth, too: the connection is closed, its user logged out.
  const c = await rawTcp();
  c.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await token(APP, 3), device_id: 'c' }, 1, 2));
  await once(c, 'data');
  c.write(Buffer.from('00000004000000021202000000000001', 'hex')); // ENTER_ROOM with a 4-byte body
  await closedWithin(c);
  await stillWorks(a, b, 'still here');
  const after = (await httpJson(im.httpPort, '/summary')).body;
  assert.is(after.shards.reduce((n: number, s: { invalidFrames: number }) => n + s.invalidFrames, 0) - before, 5);
  assert.is(after.apps.find((x: { appid: number }) => x.appid === APP).clientset_count, 2, 'uid 3 is gone from the table');
});

test('a WebSocket text message closes that WebSocket only, with close code 1003', async () => {
  const [a, b] = await pair();
  const ws = new WebSocket(`ws://127.0.0.1:${im.wsPort}/ws`);
  await once(ws, 'open');
  ws.send('hello as text');
  const [code] = await Promise.race([once(ws, 'close'), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not closed')), 3000))]);
  assert.is(code, 1003, 'a close frame saying why: unsupported data');
  const wrongPath = new WebSocket(`ws://127.0.0.1:${im.wsPort}/nope`);
  const [err] = await once(wrongPath, 'error');
  assert.match(String(err), /404/);
  await stillWorks(a, b, 'after text');
});

test('a connection that does not authenticate in time is closed', async () => {
  const s = await rawTcp();
  const t0 = Date.now();
  await closedWithin(s, 4000);
  assert.ok(Date.now() - t0 >= 900, 'not before IM_AUTH_TIMEOUT_S');
});

test('a connection that sends nothing for IM_CLIENT_TIMEOUT_S is closed; one that pings stays', async () => {
  const idle = await login(im, APP, 60);
  const busy = await login(im, APP, 61);
  clients.push(idle, busy);
  const t0 = Date.now();
  const closed = idle.next('close', 6000);
  const pinger = setInterval(() => { busy.ping().catch(() => {}); }, 500);
  await closed;
  clearInterval(pinger);
  assert.ok(Date.now() - t0 >= 2500, 'not before the timeout');
  assert.not.ok(busy.closed);
});

test('a full subscriber table refuses the login with AUTH_STATUS 1 and harms nobody', async () => {
  const [a, b] = await pair();
  const many: ImClient[] = [];
  let refused = 0;
  for (let uid = 1000; uid < 1060; uid++) {
    const c = await ImClient.connect({ port: im.port, uid });
    clients.push(c);
    const status = await c.auth({ token: await token(APP, uid) });
    if (status === 0) many.push(c);
    else refused++;
  }
  assert.ok(refused > 0, 'IM_SUBSCRIBER_CAPACITY=40 was reached');
  const s = (await httpJson(im.httpPort, '/summary')).body;
  assert.ok(s.clientset_count <= 40);
  assert.ok(s.shards.reduce((n: number, x: { authRefusedFull: number }) => n + x.authRefusedFull, 0) >= refused);
  await stillWorks(a, b, 'table full, still routing');
  for (const c of many) await c.close();
  await eventually(async () => (await httpJson(im.httpPort, '/summary')).body.clientset_count <= 3, 3000, 'logouts free the table');
  const again = await login(im, APP, 2000);
  clients.push(again);
});

/** What the shards hold live after a full GC: V8 heap plus Buffers outside it. */
async function liveBytes(): Promise<number> {
  assert.is((await httpJson(im.httpPort, '/debug/gc', { method: 'POST' })).status, 200);
  const shards = (await httpJson(im.httpPort, '/summary')).body.shards as { heap_used: number; external: number }[];
  return shards.reduce((n, s) => n + s.heap_used + s.external, 0);
}

test('a client that never reads: its queue is capped, memory stays bounded, others keep their throughput', async () => {
  const [a, b] = await pair();
  const slow = await rawTcp();
  slow.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await token(APP, 50), device_id: 'slow' }, 1, 2));
  await once(slow, 'data'); // AUTH_STATUS
  slow.pause(); // and never reads again
  const flooder = await login(im, APP, 51);
  clients.push(flooder);
  const payload = Buffer.alloc(16_000, 0x61);
  const before = await liveBytes();
  for (let i = 0; i < 12000; i++) {
    flooder.post(codecs.IM, { sender: 51, receiver: 50, timestamp: 0, msgid: i, content: payload });
    if (i % 200 === 199) await flooder.ping();
  }
  await flooder.ping();
  const dropped = (await httpJson(im.httpPort, '/summary')).body.shards.reduce((n: number, x: { dropped: number }) => n + x.dropped, 0);
  assert.ok(dropped > 4000, `frames for the slow client were dropped (${dropped})`);
  // Unbounded queueing would hold the ~192 MB sent; the cap holds 50 frames of 16 KB, and
  // whatever the slow socket's own buffer took. Live bytes after GC, not RSS: allocator
  // slack and GC timing make RSS move with the machine's load.
  const grown = (await liveBytes()) - before;
  assert.ok(grown < 48 * 1024 * 1024, `shards hold ${grown} more live bytes after ~192 MB sent to a client that never reads`);
  // Meanwhile other clients keep their throughput.
  const got = record(b, 'im');
  for (let i = 0; i < 200; i++) a.post(codecs.IM, { sender: 1, receiver: 2, timestamp: 0, msgid: i, content: Buffer.from('x') });
  assert.is((await got.until(a)).length, 200);
  slow.destroy();
});

test.run();
