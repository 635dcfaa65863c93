import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { eventually, httpJson, startProcess, type Started } from '../helpers/process.ts';
import { login, record, startIm, type Im } from '../helpers/im.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { loud } from '../helpers/loud.ts';

const APP = 3;
let redis: RedisServer;
let imr: Started;
let im1: Im, im2: Im;
const clients: ImClient[] = [];
async function on(im: Im, uid: number, deviceId?: string): Promise<ImClient> {
  const c = await login(im, APP, uid, { deviceId });
  clients.push(c);
  return c;
}

async function startRouter(port = '0'): Promise<Started> {
  return startProcess('src/router/main.ts', { IMR_PORT: port, IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', IMR_REDIS_URL: redis.url });
}

/** The router's users, as (appid → sorted uids). */
async function routerUsers(): Promise<Record<number, number[]>> {
  const body = (await httpJson(imr.ready.httpPort as number, '/all_online')).body as { appid: number; users: number[] }[];
  return Object.fromEntries(body.map((a) => [a.appid, a.users]));
}

test.before(loud(async () => {
  redis = await startRedis();
  imr = await startRouter();
  const route = { IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_SHARDS: '2' };
  [im1, im2] = await Promise.all([startIm(route), startIm(route)]);
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im1?.stop();
  await im2?.stop();
  await imr?.stop();
  await redis?.stop();
}));

test('IM between servers: every device gets one copy, the sender none; sender\'s devices on the other server too', async () => {
  const a1 = await on(im1, 1, 'a1');
  const a2 = await on(im2, 1, 'a2');
  const b1 = await on(im1, 2, 'b1');
  const b2 = await on(im2, 2, 'b2');
  const b3 = await on(im2, 2, 'b3');
  await eventually(async () => (await routerUsers())[APP]?.length === 2, 3000, 'router knows both users');
  const got = [a1, a2, b1, b2, b3].map((c) => record<[{ content: Buffer }]>(c, 'im'));
  await a1.sendIM({ receiver: 2, content: 'across' });
  // The sender's connection is fenced by its PING; the others by an RT from it along the IM's path.
  const ga1 = await got[0]!.done();
  const [ga2, gb1, gb2, gb3] = await Promise.all(got.slice(1).map((r) => r.until(a1)));
  assert.is(ga1!.length, 0, 'not echoed');
  assert.is(ga2!.length, 1, 'sender\'s device on the other server');
  for (const g of [gb1, gb2, gb3]) assert.is(g!.length, 1, 'one copy per receiving connection');
  assert.is(gb2![0]![0].content.toString(), 'across');
});

test('RT and room messages cross servers', async () => {
  const x = await on(im1, 10);
  const y = await on(im2, 11);
  const z = await on(im2, 12);
  await eventually(async () => (await routerUsers())[APP]?.includes(11) === true);
  const rt = y.next('rt');
  x.sendRT({ receiver: 11, content: 'ping' });
  assert.is((await rt)[0].content.toString(), 'ping');
  for (const c of [x, y, z]) c.enterRoom(900);
  for (const c of [x, y, z]) await c.ping();
  const rooms = async () => JSON.stringify((await httpJson(imr.ready.httpPort as number, '/all_online?detail=1')).body);
  await eventually(async () => ((await rooms()).match(/900/g) ?? []).length === 2, 10_000, 'both servers subscribed the room');
  const [gy, gz, gx] = [y, z, x].map((c) => record(c, 'room_im'));
  await x.sendRoomIM({ room: 900, content: 'room across' });
  assert.equal([(await gy!.until(x)).length, (await gz!.until(x)).length, (await gx!.done()).length], [1, 1, 0]);
});

test('a version-0 client across servers: it gets IM in its own layout, and its IM reaches a newer client', async () => {
  const old = await login(im2, APP, 40, { version: 0 });
  const neu = await on(im1, 41);
  clients.push(old);
  await eventually(async () => (await routerUsers())[APP]?.includes(40) === true);
  const toOld = old.next('im');
  await neu.sendIM({ receiver: 40, content: 'to v0 across', msgid: 8, timestamp: 99 });
  const [m0, f0] = await toOld;
  assert.equal([f0.version, m0.sender, m0.receiver, m0.msgid, m0.content.toString()], [0, 41, 40, 8, 'to v0 across']);
  const toNew = neu.next('im');
  const ack = await old.sendIM({ receiver: 41, content: 'from v0 across', msgid: 9 });
  assert.is(ack.status, 0);
  const [m1, f1] = await toNew;
  assert.equal([f1.version, m1.sender, m1.receiver, m1.msgid, m1.content.toString()], [2, 40, 41, 9, 'from v0 across']);
});

test('offline push reaches Redis only for users online nowhere', async () => {
  await redis.client.del('push_queue');
  const s = await on(im1, 20);
  await on(im2, 21); // online on the other server
  await eventually(async () => (await routerUsers())[APP]?.includes(21) === true);
  await s.sendIM({ receiver: 21, content: 'to an online user' });
  await s.sendIM({ receiver: 22, content: 'to an offline user' });
  // Fence: a later push from the same sender; anything the first IM caused is queued before it.
  await s.sendIM({ receiver: 23, content: 'fence' });
  await eventually(async () => (await redis.client.llen('push_queue')) >= 2, 3000, 'pushes written');
  const items = (await redis.client.lrange('push_queue', 0, -1)).map((j) => JSON.parse(j));
  assert.equal(items, [
    { appid: APP, sender: 20, receiver: 22, content: 'to an offline user' },
    { appid: APP, sender: 20, receiver: 23, content: 'fence' },
  ]);
});

test('router down: local messaging goes on; after restart delivery resumes within 2 s and the router view is exact', async () => {
  const l1 = await on(im1, 30);
  const l2 = await on(im1, 31);
  const r2 = await on(im2, 32);
  const port = String(imr.ready.port);
  await imr.kill();
  const local = l2.next('im');
  await l1.sendIM({ receiver: 31, content: 'local while router is down' });
  assert.is((await local)[0].content.toString(), 'local while router is down');
  // A storm of logins, logouts and room changes on both servers during the outage.
  const stormers: ImClient[] = [];
  for (let i = 0; i < 30; i++) {
    const c = await login(i % 2 ? im1 : im2, APP, 100 + (i % 12));
    if (i % 3 === 0) c.enterRoom(700 + (i % 4));
    stormers.push(c);
  }
  for (const c of stormers.filter((_, i) => i % 4 === 1)) c.leaveRoom(700 + (stormers.indexOf(c) % 4));
  for (const c of stormers.filter((_, i) => i % 5 === 2)) await c.close();
  imr = await startRouter(port);
  // More logins, logouts and room changes while the servers reconnect and re-subscribe.
  const during = await Promise.all(Array.from({ length: 10 }, (_, i) => login(i % 2 ? im2 : im1, APP, 200 + i)));
  during.forEach((c, i) => { if (i % 2 === 0) c.enterRoom(800 + i); });
  for (const c of during.filter((_, i) => i % 3 === 0)) await c.close();
  for (const c of during.filter((_, i) => i % 3 !== 0)) clients.push(c);
  const t0 = Date.now();
  const heard = record(r2, 'im');
  await eventually(async () => {
    await l1.sendIM({ receiver: 32, content: 'after restart' });
    await r2.ping();
    return heard.got.length > 0;
  }, 5000, 'cross-server delivery after the router restart');
  await heard.done();
  assert.ok(Date.now() - t0 < 2000 + 500, `resumed after ${Date.now() - t0} ms`);
  for (const c of stormers.filter((_, i) => i % 5 !== 2)) clients.push(c);
  // The router's view of each server (users, online flags, rooms) equals that server's table.
  const truth = async () => (await Promise.all([im1, im2].map(async (im) => JSON.stringify((await httpJson(im.httpPort, '/subscriptions')).body)))).sort();
  const view = async () => ((await httpJson(imr.ready.httpPort as number, '/all_online?detail=1')).body as { apps: unknown }[])
    .map((l) => JSON.stringify(l.apps)).sort();
  await eventually(async () => JSON.stringify(await view()) === JSON.stringify(await truth()), 3000, 'router view equals the tables');
  const t = await truth();
  assert.ok(t.every((x) => x.includes('"rooms":[7')), 'rooms are part of the compared view');
});

test.run();
