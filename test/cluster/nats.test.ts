import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, type Im } from '../helpers/im.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startNats, type NatsCluster } from '../helpers/nats.ts';
import { metric, natsServerOf, reachable, startNatsIms } from '../helpers/nats-cluster.ts';
import { loud } from '../helpers/loud.ts';

/*
 * Three access servers linked through a three-node NATS cluster: everything that crosses
 * servers through routers crosses through NATS the same way. Counts are fenced: a marker
 * sent the same way after the messages under test has arrived everywhere it should before
 * anything is counted.
 */
const APP = 9;
let nats: NatsCluster;
let redis: RedisServer;
let ims: Im[];
const clients: ImClient[] = [];

async function on(im: Im, uid: number, deviceId?: string): Promise<ImClient> {
  const c = await login(im, APP, uid, { deviceId });
  clients.push(c);
  return c;
}

/** Every event `name` on `c` from now on, probes left out. */
function watch<T extends { content: Buffer }>(c: ImClient, name: string): T[] {
  const got: T[] = [];
  c.on(name as never, ((m: T) => { if (!m.content.toString().startsWith('probe')) got.push(m); }) as never);
  return got;
}

const texts = (ms: { content: Buffer }[]) => ms.map((m) => m.content.toString());
const arrived = (lists: { content: Buffer }[][], text: string) => eventually(() => lists.every((l) => texts(l).includes(text)), 10_000, `"${text}" everywhere`);

test.before(loud(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  ims = await startNatsIms(3, nats.url, { IM_REDIS_URL: redis.url });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  for (const im of ims ?? []) assert.is(await im.stop(), 0);
  await nats?.stop();
  await redis?.stop();
}));

test('every server is on NATS: /healthz names the node and says up, the ready line names no password', async () => {
  for (const im of ims) {
    const n = await natsServerOf(im);
    assert.is(n.state, 'up');
    assert.ok(nats.indexOf(n.server) >= 0, n.server);
    assert.is((await httpJson(im.httpPort, '/healthz')).status, 200);
  }
});

test('peer IM across servers: one copy per receiving connection, the sender\'s other devices on other servers get theirs, no echo', async () => {
  const a1 = await on(ims[0]!, 1, 'a1');
  const a2 = await on(ims[2]!, 1, 'a2');
  const b1 = await on(ims[1]!, 2, 'b1');
  const b2 = await on(ims[2]!, 2, 'b2');
  await reachable(a1, b1, 2);
  await reachable(a1, b2, 2);
  await reachable(b1, a2, 1);
  const got = [a1, a2, b1, b2].map((c) => watch(c, 'im'));
  assert.is((await a1.sendIM({ receiver: 2, content: 'across' })).status, 0);
  assert.is((await a1.sendIM({ receiver: 2, content: 'marker' })).status, 0);
  await arrived(got.slice(1), 'marker');
  await a1.ping();
  assert.equal(got.map(texts), [[], ['across', 'marker'], ['across', 'marker'], ['across', 'marker']]);
});

test('RT, and HTTP posts on any server: a notification, an RT, a peer message, a system message, a customer message (each synced)', async () => {
  const x = await on(ims[0]!, 10);
  const y = await on(ims[1]!, 11);
  await reachable(x, y, 11);
  const rt = y.next('rt');
  x.sendRT({ receiver: 11, content: 'rt across' });
  assert.is((await rt)[0].content.toString(), 'rt across');
  const post = (im: Im, path: string, body: string | object) => httpJson(im.httpPort, path, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' },
  });
  const note = y.next('notification');
  assert.is((await post(ims[2]!, `/post_notification?appid=${APP}&uid=11`, 'note')).status, 200);
  assert.is((await note)[0].content.toString(), 'note');
  const rt2 = y.next('rt');
  assert.is((await post(ims[0]!, `/post_realtime_message?appid=${APP}&sender=10&receiver=11`, 'posted rt')).status, 200);
  assert.is((await rt2)[0].content.toString(), 'posted rt');
  const notify = y.next('sync_notify');
  assert.is((await post(ims[2]!, `/post_peer_message?appid=${APP}&sender=10&receiver=11`, 'posted im')).status, 200);
  await notify;
  const system = y.next('sync_notify');
  assert.is((await post(ims[0]!, '/post_system_message', { appid: APP, receivers: [11], content: 'sys' })).status, 200);
  await system;
  const customer = y.next('sync_notify');
  assert.is((await post(ims[0]!, '/post_customer_message', { sender_appid: 99, sender: 5, receiver_appid: APP, receiver: 11, content: 'cs' })).status, 200);
  await customer;
  const synced = (await y.sync()).messages.map((m) => (m.body as { content?: Buffer }).content?.toString() ?? '');
  for (const text of ['posted im', 'sys', 'cs']) assert.ok(synced.includes(text), JSON.stringify(synced));
});

test('a room across three servers: one copy per member connection, none back to the sender', async () => {
  const members = [await on(ims[0]!, 20), await on(ims[1]!, 21), await on(ims[2]!, 22), await on(ims[2]!, 23)];
  for (const c of members) c.enterRoom(700);
  const got = members.map((c) => watch(c, 'room_im'));
  // Until the room's interest has spread: a probe from the first member reaches every other.
  const probes = members.map((c) => { let n = 0; c.on('room_im' as never, ((m: { content: Buffer }) => { if (m.content.toString() === 'probe ready') n++; }) as never); return () => n; });
  await eventually(async () => {
    await members[0]!.sendRoomIM({ room: 700, content: 'probe ready' });
    return probes.slice(1).every((n) => n() > 0);
  }, 15_000, 'room interest spread');
  await members[0]!.sendRoomIM({ room: 700, content: 'hello room' });
  await members[0]!.sendRoomIM({ room: 700, content: 'marker' });
  await arrived(got.slice(1), 'marker');
  await members[0]!.ping();
  assert.equal(got.map(texts), [[], ['hello room', 'marker'], ['hello room', 'marker'], ['hello room', 'marker']]);
});

for (const superGroup of [false, true]) {
  test(`a ${superGroup ? 'super' : 'normal'} group with members on three servers: one copy each, the sender's other device too`, async () => {
    const base = superGroup ? 40 : 30;
    const r = await httpJson(ims[0]!.httpPort, '/create_group', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: APP, master: base, name: 'g', members: [base, base + 1, base + 2], super: superGroup }),
    });
    assert.is(r.status, 200, JSON.stringify(r.body));
    const gid = r.body.data.group_id as number;
    const s1 = await on(ims[0]!, base, 's1');
    const s2 = await on(ims[1]!, base, 's2');
    const m1 = await on(ims[1]!, base + 1);
    const m2 = await on(ims[2]!, base + 2);
    await reachable(s1, m1, base + 1);
    await reachable(s1, m2, base + 2);
    await reachable(m2, s2, base);
    const got = [s1, s2, m1, m2].map((c) => watch(c, 'group_im'));
    assert.is((await s1.sendGroupIM({ receiver: gid, content: 'to all' })).status, 0);
    assert.is((await s1.sendGroupIM({ receiver: gid, content: 'marker' })).status, 0);
    await arrived(got.slice(1), 'marker');
    await s1.ping();
    assert.equal(got.map(texts), [[], ['to all', 'marker'], ['to all', 'marker'], ['to all', 'marker']]);
  });
}

test('offline push: exactly one item for a receiver online on no server, none for one online on another server', async () => {
  await redis.client.del('push_queue');
  const sender = await on(ims[0]!, 60);
  const elsewhere = await on(ims[2]!, 61);
  await reachable(sender, elsewhere, 61);
  const before = await metric(ims[0]!, 'im_push_checks_total');
  assert.is((await sender.sendIM({ receiver: 62, content: 'to nobody' })).status, 0);
  assert.is((await sender.sendIM({ receiver: 61, content: 'to elsewhere' })).status, 0);
  // Every decision made, and every item it made written.
  await eventually(async () => (await metric(ims[0]!, 'im_push_checks_total')) >= before + 2
    && (await metric(ims[0]!, 'im_push_queued_total')) === (await metric(ims[0]!, 'im_push_pushed_total')), 10_000, 'pushes decided and written');
  const items = (await redis.client.lrange('push_queue', 0, -1)).map((j) => JSON.parse(j) as { receiver: number; content: string; appid: number; sender: number });
  assert.equal(items, [{ appid: APP, sender: 60, receiver: 62, content: 'to nobody' }]);
});

test.run();
