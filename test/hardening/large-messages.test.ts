/**
 * The largest messages across servers. A route message wraps the whole client frame behind
 * 42 bytes of its own and must itself stay under the protocol's 32 KiB, so a server linked
 * to routers accepts bodies up to ROUTED_MAX_BODY: the largest crosses intact, a larger one
 * is an oversized frame (its connection closed), and neither touches the router link.
 * Offline pushes to many receivers are split into frames that each fit.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import type { ImClient } from '../../src/client/index.ts';
import { Cmd, FrameDecoder, MAX_BODY, ROUTED_MAX_BODY, ROUTER_CMDS, codecs, type Frame } from '../../src/protocol/index.ts';
import { eventually, httpJson, startProcess, type Started } from '../helpers/process.ts';
import { record, login, startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 7;
const IM_FIELDS = codecs.IM.forVersion(2).minSize;
let imr: Started;
let a: Im, b: Im;
const clients: ImClient[] = [];
const on = async (im: Im, uid: number, version?: number) => {
  const c = await login(im, APP, uid, { version });
  clients.push(c);
  return c;
};
const linked = (p: Started) => p.lines.filter((l) => l.includes('access server linked')).length;
/** Invalid frames and internal errors, all shards together. */
async function shardCounts(im: Im): Promise<{ invalidFrames: number; internalErrors: number }> {
  const shards = (await httpJson(im.httpPort, '/summary')).body.shards as { invalidFrames: number; internalErrors: number }[];
  return { invalidFrames: shards.reduce((n, s) => n + s.invalidFrames, 0), internalErrors: shards.reduce((n, s) => n + s.internalErrors, 0) };
}
const content = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

test.before(loud(async () => {
  imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'info' });
  const env = { IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_SHARDS: '2', IM_LOG_LEVEL: 'info' };
  a = await startIm(env);
  b = await startIm(env);
  await eventually(() => linked(imr) === 2, 5000, 'both servers linked');
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await a?.stop();
  await b?.stop();
  await imr?.stop();
}));

test('a linked server takes bodies up to ROUTED_MAX_BODY by default', () => {
  assert.is(ROUTED_MAX_BODY, MAX_BODY - 42 - 12);
  const config = a.lines.find((l) => l.includes('"configuration"'))!;
  assert.is(JSON.parse(config).config.maxBody, ROUTED_MAX_BODY);
});

test('the largest IM crosses servers intact; one byte more closes its sender and nothing else', async () => {
  const x = await on(a, 1);
  const y = await on(b, 2);
  const z = await on(a, 3);
  await eventually(async () => JSON.stringify((await httpJson(imr.ready.httpPort as number, '/all_online')).body).includes('2'), 5000, 'router knows uid 2');
  const largest = content(ROUTED_MAX_BODY - IM_FIELDS, 1);
  const got = y.next('im');
  assert.is((await x.sendIM({ receiver: 2, content: largest })).status, 0);
  assert.ok((await got)[0].content.equals(largest), 'every byte arrives');

  const closed = once(x, 'close');
  x.post(codecs.IM, { sender: 1, receiver: 2, timestamp: 0, msgid: 0, content: content(ROUTED_MAX_BODY - IM_FIELDS + 1, 2) });
  await closed;
  const after = record<[{ content: Buffer }]>(y, 'im');
  assert.is((await z.sendIM({ receiver: 2, content: 'still linked' })).status, 0);
  const seen = await after.until(z);
  assert.equal(seen.map(([m]) => m.content.toString()), ['still linked'], 'the oversized one never arrives; the next one does');
  assert.is(linked(imr), 2, 'the router link was never dropped');
  assert.not.ok(a.lines.some((l) => l.includes('channel restarted')), 'the Channel thread never failed');
  assert.ok((await shardCounts(a)).invalidFrames >= 1, 'counted as an invalid frame');
});

test('a version-0 IM is held to the limit with the timestamp it gains', async () => {
  const old = await on(a, 11, 0);
  const y = await on(b, 12);
  await eventually(async () => JSON.stringify((await httpJson(imr.ready.httpPort as number, '/all_online')).body).includes('12'), 5000, 'router knows uid 12');
  const v0Fields = codecs.IM.forVersion(0).minSize;
  const largest = content(ROUTED_MAX_BODY - IM_FIELDS, 3);
  assert.is(v0Fields + largest.length + 4, ROUTED_MAX_BODY);
  const got = y.next('im');
  assert.is((await old.sendIM({ receiver: 12, content: largest })).status, 0);
  assert.ok((await got)[0].content.equals(largest));
  const closed = once(old, 'close');
  old.post(codecs.IM, { sender: 11, receiver: 12, timestamp: 0, msgid: 0, content: content(largest.length + 1, 4) });
  await closed;
  assert.is(linked(imr), 2);
  const errors = await shardCounts(a);
  assert.is(errors.internalErrors, 0, 'refused as too long, not failed on the way');
  assert.ok(errors.invalidFrames >= 2);
});

test('HTTP posts: content up to what the body leaves crosses; more is a 413', async () => {
  const y = await on(b, 22);
  await eventually(async () => JSON.stringify((await httpJson(imr.ready.httpPort as number, '/all_online')).body).includes('22'), 5000, 'router knows uid 22');
  const limit = ROUTED_MAX_BODY - codecs.RT.forVersion(2).minSize;
  const post = (n: number) => httpJson(a.httpPort, `/post_realtime_message?appid=${APP}&sender=21&receiver=22`, { method: 'POST', body: content(n, 5) });
  const got = y.next('rt');
  assert.is((await post(limit)).status, 200);
  assert.ok((await got)[0].content.equals(content(limit, 5)));
  const over = await post(limit + 1);
  assert.is(over.status, 413);
  assert.match(JSON.stringify(over.body), String(limit));
  const peer = await httpJson(a.httpPort, `/post_peer_message?appid=${APP}&sender=21&receiver=22`, { method: 'POST', body: content(ROUTED_MAX_BODY - IM_FIELDS + 1, 5) });
  assert.is(peer.status, 413, 'an IM\'s limit leaves room for its own fields');
  assert.is(linked(imr), 2);
});

test('IM_MAX_BODY above ROUTED_MAX_BODY on a linked server stops start-up, naming it', async () => {
  try {
    await startIm({ IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_MAX_BODY: String(MAX_BODY) });
    assert.unreachable('must not start');
  } catch (err) {
    assert.match((err as Error).message, /IM_MAX_BODY.*at most 32713/);
  }
});

/** A router that only records what an access server sends it. */
async function recordingRouter(): Promise<{ port: number; frames: Frame[]; errors: string[]; connections(): number; close(): void }> {
  const frames: Frame[] = [];
  const errors: string[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    const d = new FrameDecoder({ accept: ROUTER_CMDS });
    s.on('data', (c: Buffer) => {
      const err = d.push(c, (f) => frames.push({ ...f, body: Buffer.from(f.body) }));
      if (err !== undefined) errors.push(err.message);
    });
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port, frames, errors,
    connections: () => sockets.length,
    close() { for (const s of sockets) s.destroy(); server.close(); },
  };
}

/** An access server linked to a recording router only, for the duration of `fn`. */
async function linkedToRecorder(env: Record<string, string>, fn: (router: Awaited<ReturnType<typeof recordingRouter>>, im: Im) => Promise<void>): Promise<void> {
  const router = await recordingRouter();
  const im = await startIm({ IM_ROUTE_ADDRS: `127.0.0.1:${router.port}`, ...env });
  try {
    await fn(router, im);
  } finally {
    await im.stop();
    router.close();
  }
}

async function bigGroup(im: Im, n: number): Promise<{ gid: number; members: number[] }> {
  const members = Array.from({ length: n }, (_, i) => 100_000 + i);
  const created = await httpJson(im.httpPort, '/create_group', {
    method: 'POST', body: JSON.stringify({ appid: APP, master: members[0], name: 'big', members }), headers: { 'content-type': 'application/json' },
  });
  assert.is(created.status, 200, JSON.stringify(created.body));
  return { gid: created.body.data.group_id, members };
}

test('an offline push to thousands of group members leaves in frames that each fit', async () => {
  await linkedToRecorder({ IM_SHARDS: '1', IM_STORE: 'off' }, async (router, im) => {
    const { gid, members } = await bigGroup(im, 5000);
    const sender = await login(im, APP, members[0]!);
    const text = content(2000, 6);
    assert.is((await sender.sendGroupIM({ receiver: gid, content: text })).status, 0);
    const PUSH = codecs.PUSH.forVersion(0);
    const pushed = () => router.frames.filter((f) => f.cmd === Cmd.PUSH).map((f) => PUSH.decode(f.body, 0, f.body.length) as { receivers: number[]; message: Buffer });
    await eventually(() => pushed().reduce((n, p) => n + p.receivers.length, 0) >= members.length - 1, 10_000, 'every offline member pushed');
    const all = pushed();
    assert.equal(router.errors, [], 'every frame valid for the router');
    assert.ok(all.length > 1, `split into ${all.length} frames`);
    assert.equal(all.flatMap((p) => p.receivers).sort((x, y) => x - y), members.slice(1), 'each offline member once, not the sender');
    for (const p of all) assert.ok(p.message.subarray(12 + IM_FIELDS).equals(text), 'the whole message in each');
    sender.destroy();
  });
});

test('a system message to many with the store off: a PUBLISH for each receiver, one PUSH for those not here', async () => {
  await linkedToRecorder({ IM_SHARDS: '2', IM_STORE: 'off' }, async (router, im) => {
    const here = await login(im, APP, 3001);
    const got = here.next('system');
    const text = content(ROUTED_MAX_BODY, 8);
    const r = await httpJson(im.httpPort, '/post_system_message', {
      method: 'POST', body: JSON.stringify({ appid: APP, receivers: [3001, 3002, 3003], content: text.toString('latin1') }), headers: { 'content-type': 'application/json' },
    });
    assert.is(r.status, 413, 'the content as UTF-8 is over the limit');
    const fits = 'é'.repeat(Math.floor(ROUTED_MAX_BODY / 2));
    assert.is((await httpJson(im.httpPort, '/post_system_message', {
      method: 'POST', body: JSON.stringify({ appid: APP, receivers: [3001, 3002, 3003], content: fits }), headers: { 'content-type': 'application/json' },
    })).status, 200);
    assert.is((await got)[0].content.toString(), fits);
    const PUBLISH = codecs.PUBLISH.forVersion(0);
    const PUSH = codecs.PUSH.forVersion(0);
    await eventually(() => router.frames.some((f) => f.cmd === Cmd.PUSH), 5000, 'pushed');
    await here.ping();
    const published = router.frames.filter((f) => f.cmd === Cmd.PUBLISH).map((f) => PUBLISH.decode(f.body, 0, f.body.length) as { receiver: number; message: Buffer });
    assert.equal(published.map((p) => p.receiver).sort(), [3001, 3002, 3003]);
    for (const p of published) assert.ok(p.message.subarray(12).equals(Buffer.from(fits)), 'the whole message each');
    const pushed = router.frames.filter((f) => f.cmd === Cmd.PUSH).map((f) => PUSH.decode(f.body, 0, f.body.length) as { receivers: number[] });
    assert.equal(pushed.flatMap((p) => p.receivers).sort(), [3002, 3003], 'not the one online here');
    assert.equal(router.errors, []);
    here.destroy();
  });
});

test('a burst over IM_CHANNEL_QUEUE_LIMIT_BYTES drops its excess, counted, and keeps the router link', async () => {
  await linkedToRecorder({ IM_SHARDS: '1', IM_STORE: 'off', IM_CHANNEL_QUEUE_LIMIT_BYTES: '1MiB', IM_LOG_LEVEL: 'info' }, async (router, im) => {
    // A normal group's message is one PUBLISH per member: 300 × 32 KB is 9.6 MB at once.
    const { gid, members } = await bigGroup(im, 300);
    const sender = await login(im, APP, members[0]!);
    assert.is((await sender.sendGroupIM({ receiver: gid, content: content(ROUTED_MAX_BODY - IM_FIELDS, 7) })).status, 0);
    await sender.ping();
    const drops = async () => (await httpJson(im.httpPort, '/summary')).body.dropped_count.router_backlog as number;
    await eventually(async () => (await drops()) > 0, 5000, 'the excess counted');
    const other = await login(im, APP, 42);
    const before = router.frames.length;
    other.sendRT({ receiver: 43, content: 'after the burst' });
    await eventually(() => router.frames.slice(before).some((f) => f.cmd === Cmd.PUBLISH && f.body.includes('after the burst')), 5000, 'the next publish goes out');
    assert.is(router.connections(), 1, 'never cut and redialled');
    assert.equal(router.errors, []);
    await eventually(() => im.lines.some((l) => l.includes('publishes dropped')), 5000, 'logged');
    assert.not.ok(im.lines.some((l) => l.includes('router link down')));
    sender.destroy();
    other.destroy();
  });
});

test.run();
