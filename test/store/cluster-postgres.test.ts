/**
 * Two access servers linked by a router, sharing one PostgreSQL store: what is saved on the
 * sender's server is synced from the receiver's; keys never skip, even with both servers
 * writing one queue at once; and a store that stops answering costs ACKs and syncs, not RT.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { Cmd, codecs, type Frame } from '../../src/protocol/index.ts';
import { eventually, httpJson, startProcess, type Started } from '../helpers/process.ts';
import { login, record, startIm, type Im } from '../helpers/im.ts';
import { startPostgres, type Postgres } from '../helpers/postgres.ts';
import { loud } from '../helpers/loud.ts';

const APP = 12;
let pg: Postgres;
let imr: Started;
let im1: Im, im2: Im;
const clients: ImClient[] = [];
const on = async (im: Im, uid: number, deviceId?: string) => {
  const c = await login(im, APP, uid, { deviceId: deviceId ?? `d-${uid}-${Math.random()}` });
  clients.push(c);
  return c;
};
const onRouter = async (uid: number) => eventually(async () =>
  ((await httpJson(imr.ready.httpPort as number, '/all_online')).body as { appid: number; users: number[] }[]).some((a) => a.appid === APP && a.users.includes(uid)),
3000, `router knows ${uid}`);

test.before(loud(async () => {
  pg = await startPostgres();
  imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  const env = { IM_STORE_URL: pg.url, IM_SHARDS: '2', IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_STORE_TIMEOUT_MS: '1500' };
  im1 = await startIm(env);
  im2 = await startIm(env);
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im1?.stop();
  await im2?.stop();
  await imr?.stop();
  await pg?.stop();
}));

test('across servers: METADATA(key, 0), IM, SYNC_NOTIFY in key order; the receiving server syncs what the other saved', async () => {
  const a = await on(im1, 1);
  const b = await on(im2, 2);
  await onRouter(2);
  const seen = record<[Frame]>(b, 'frame');
  for (let i = 1; i <= 5; i++) await a.sendIM({ receiver: 2, content: `x${i}` });
  await eventually(() => seen.got.filter(([f]) => f.cmd === Cmd.SYNC_NOTIFY).length === 5, 3000, 'five notifies');
  const got = (await seen.done()).map(([f]) => f).filter((f) => f.cmd !== Cmd.PONG);
  assert.equal(got.map((f) => f.cmd), Array.from({ length: 5 }, () => [Cmd.METADATA, Cmd.IM, Cmd.SYNC_NOTIFY]).flat());
  const metas = got.filter((f) => f.cmd === Cmd.METADATA).map((f) => codecs.METADATA.forVersion(2).decode(f.body, 0, f.body.length) as { sync_key: number; prev_sync_key: number });
  assert.equal(metas.map((m) => [m.sync_key, m.prev_sync_key]), [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]]);
  const r = await b.sync(0);
  assert.equal(r.messages.map((m) => (m.body as { content: Buffer }).content.toString()), ['x1', 'x2', 'x3', 'x4', 'x5']);
  assert.is(r.key, 5);
});

test('a normal group across servers: each member on the other server gets METADATA with its own queue\'s key', async () => {
  const sender = await on(im1, 31);
  const m1 = await on(im2, 32);
  const m2 = await on(im2, 33);
  await onRouter(32);
  await onRouter(33);
  // m2's queue is ahead by three, so the two members' keys differ.
  for (let i = 0; i < 3; i++) await sender.sendIM({ receiver: 33, content: `before${i}` });
  await eventually(async () => (await m2.sync(0)).key === 3, 3000, 'three waiting for 33');
  const created = await httpJson(im1.httpPort, '/create_group', {
    method: 'POST', body: JSON.stringify({ appid: APP, master: 31, name: 'g', members: [31, 32, 33] }), headers: { 'content-type': 'application/json' },
  });
  const gid = created.body.data.group_id as number;
  const seen = [m1, m2].map((c) => record<[Frame]>(c, 'frame'));
  assert.is((await sender.sendGroupIM({ receiver: gid, content: 'to all' })).status, 0);
  await eventually(() => seen.every((r) => r.got.some(([f]) => f.cmd === Cmd.SYNC_NOTIFY)), 3000, 'both notified');
  for (const [i, c] of [m1, m2].entries()) {
    const got = (await seen[i]!.done()).map(([f]) => f).filter((f) => f.cmd !== Cmd.PONG);
    assert.equal(got.map((f) => f.cmd), [Cmd.METADATA, Cmd.GROUP_IM, Cmd.SYNC_NOTIFY]);
    const meta = codecs.METADATA.forVersion(2).decode(got[0]!.body, 0, got[0]!.body.length) as { sync_key: number };
    const r = await c.sync(meta.sync_key - 1);
    assert.equal(r.messages.map((m) => (m.body as { content: Buffer }).content.toString()), ['to all'], 'the key is where its own queue holds it');
    assert.is(r.key, meta.sync_key);
  }
});

test('offline on both servers: everything arrives in the next sync, on either server', async () => {
  const a = await on(im1, 3);
  for (let i = 1; i <= 10; i++) await a.sendIM({ receiver: 4, content: `o${i}` });
  const onOther = await on(im2, 4);
  assert.is((await onOther.sync(0)).messages.length, 10);
  const onSame = await on(im1, 4);
  assert.is((await onSame.sync(5)).messages.length, 5);
});

test('4 senders on 2 servers, 2000 messages each, to one receiver syncing all along: each exactly once, in key order, no gap', async () => {
  const receiver = await on(im2, 100);
  const senders = [await on(im1, 101), await on(im1, 102), await on(im2, 103), await on(im2, 104)];
  const PER = 2000;
  const seen = new Map<string, number>();
  let key = 0;
  let pages = 0;
  const syncOnce = async () => {
    const r = await receiver.sync(key);
    for (const m of r.messages) {
      const t = (m.body as { content: Buffer }).content.toString();
      seen.set(t, (seen.get(t) ?? 0) + 1);
    }
    if (r.messages.length > 0) assert.is(r.key, key + r.messages.length, 'the page follows the previous key with no gap');
    key = r.key;
    pages++;
  };
  let sending = true;
  const syncing = (async () => { while (sending) await syncOnce(); })();
  await Promise.all(senders.map(async (s, n) => {
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < PER; i++) {
      acks.push(s.sendIM({ receiver: 100, content: `s${n}-${i}` }));
      if (i % 100 === 99) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
  }));
  sending = false;
  await syncing;
  while (seen.size < 4 * PER) {
    const before = seen.size;
    await syncOnce();
    if (seen.size === before) break;
  }
  assert.is(seen.size, 4 * PER, 'every message synced');
  assert.ok([...seen.values()].every((n) => n === 1), 'none twice');
  assert.is(key, 4 * PER);
  assert.ok(pages > 2, `synced in ${pages} rounds while messages were arriving`);
});

test('the store stops answering: no ACK, no sync reply, /healthz 503; RT still flows; it all resumes by itself', async () => {
  const a = await on(im1, 201);
  const b = await on(im1, 202);
  const failures = async () => ((await httpJson(im1.httpPort, '/summary')).body.shards as { storeFailures: number }[]).reduce((n, s) => n + s.storeFailures, 0);
  const failedBefore = await failures();
  pg.pause();
  try {
    const acks = record(a, 'ack');
    const begins = record(b, 'sync_begin');
    a.post(codecs.IM, { sender: 201, receiver: 202, timestamp: 0, msgid: 1, content: Buffer.from('lost?') });
    b.post(codecs.SYNC, { sync_key: 0 });
    await eventually(async () => (await failures()) >= failedBefore + 2, 6000, 'the store calls timed out');
    assert.is((await acks.done()).length, 0, 'no ACK while the store is away');
    assert.is((await begins.done()).length, 0, 'no sync reply while the store is away');
    assert.is((await httpJson(im1.httpPort, '/healthz')).status, 503);
    const rt = b.next('rt');
    a.sendRT({ receiver: 202, content: 'still here' });
    assert.is((await rt)[0].content.toString(), 'still here');
  } finally {
    pg.resume();
  }
  await eventually(async () => (await httpJson(im1.httpPort, '/healthz')).status === 200, 10_000, 'healthy again');
  const ack = await a.sendIM({ receiver: 202, content: 'after' });
  assert.is(ack.status, 0);
  const texts = (await b.sync(0)).messages.map((m) => (m.body as { content: Buffer }).content.toString());
  assert.is(texts.at(-1), 'after');
});

test.run();
