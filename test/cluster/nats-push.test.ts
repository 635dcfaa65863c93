import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImClient } from '../../src/client/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import type { Im } from '../helpers/im.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startNats, type NatsCluster } from '../helpers/nats.ts';
import { metric, reachable, startNatsIms } from '../helpers/nats-cluster.ts';
import { loud } from '../helpers/loud.ts';

/*
 * Offline push through NATS for the receivers a router would push, and only those: a user
 * online on no server; a user whose only connection is a web client with notifications on
 * (connected, not online for push). Its messages still reach that connection.
 */
const APP = 16;
const WEB = 3;
const IOS = 1;
let nats: NatsCluster;
let redis: RedisServer;
let ims: Im[];
const clients: ImClient[] = [];

/** Logs uid in on `im` through a Redis token: `platform` and the user's notification setting decide whether it counts as online. */
async function on(im: Im, uid: number, platform: number): Promise<ImClient> {
  const token = `tok-${uid}-${platform}-${clients.length}`;
  await redis.client.hset(`access_token_${token}`, { app_id: String(APP), user_id: String(uid) });
  await redis.client.hset(`users_${APP}_${uid}`, { notification_on: '1' });
  const c = await ImClient.connect({ port: im.port, uid });
  assert.is(await c.auth({ token, platform, deviceId: `d-${uid}-${clients.length}` }), 0);
  clients.push(c);
  return c;
}

interface Item { receiver?: number; receivers?: number[]; content: string }

/** The push list once `sender`'s server settled `decided` more receivers and wrote what it pushed. */
async function pushed(im: Im, queue: string, before: number, decided: number): Promise<Item[]> {
  await eventually(async () => (await metric(im, 'im_push_checks_total')) >= before + decided
    && (await metric(im, 'im_push_queued_total')) === (await metric(im, 'im_push_pushed_total')), 10_000, 'pushes decided and written');
  return (await redis.client.lrange(queue, 0, -1)).map((j) => JSON.parse(j) as Item);
}

test.before(loud(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  ims = await startNatsIms(3, nats.url, { IM_AUTH: 'redis', IM_REDIS_URL: redis.url });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  for (const im of ims ?? []) assert.is(await im.stop(), 0);
  await nats?.stop();
  await redis?.stop();
}));

test('a receiver held only by a web client with notifications on: the message reaches it, and one push goes out', async () => {
  await redis.client.del('push_queue');
  const sender = await on(ims[0]!, 1, IOS);
  const web = await on(ims[1]!, 2, WEB);
  await reachable(sender, web, 2);
  const got = web.next('im');
  const before = await metric(ims[0]!, 'im_push_checks_total');
  assert.is((await sender.sendIM({ receiver: 2, content: 'to the web' })).status, 0);
  assert.is((await got)[0].content.toString(), 'to the web');
  assert.equal((await pushed(ims[0]!, 'push_queue', before, 1)).map((i) => [i.receiver, i.content]), [[2, 'to the web']]);
});

test('a receiver online on one server and held offline on another: reached on both, no push', async () => {
  await redis.client.del('push_queue');
  const sender = await on(ims[0]!, 3, IOS);
  const web = await on(ims[1]!, 4, WEB);
  const phone = await on(ims[2]!, 4, IOS);
  await reachable(sender, web, 4);
  await reachable(sender, phone, 4);
  const got = [web.next('im'), phone.next('im')];
  const before = await metric(ims[0]!, 'im_push_checks_total');
  assert.is((await sender.sendIM({ receiver: 4, content: 'to both' })).status, 0);
  for (const g of got) assert.is((await g)[0].content.toString(), 'to both');
  assert.equal(await pushed(ims[0]!, 'push_queue', before, 1), []);
});

test('a group message: one item naming the members online nowhere and those held only offline, not the one online elsewhere nor the sender', async () => {
  await redis.client.del('group_push_queue');
  const r = await httpJson(ims[0]!.httpPort, '/create_group', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appid: APP, master: 10, name: 'g', members: [10, 11, 12, 13] }),
  });
  assert.is(r.status, 200);
  const gid = r.body.data.group_id as number;
  const sender = await on(ims[0]!, 10, IOS);
  const online = await on(ims[1]!, 11, IOS);
  const web = await on(ims[2]!, 12, WEB);
  await reachable(sender, online, 11);
  await reachable(sender, web, 12);
  const before = await metric(ims[0]!, 'im_push_checks_total');
  assert.is((await sender.sendGroupIM({ receiver: gid, content: 'to the group' })).status, 0);
  const items = await pushed(ims[0]!, 'group_push_queue', before, 3);
  assert.equal(items.map((i) => [[...i.receivers!].sort((a, b) => a - b), i.content]), [[[12, 13], 'to the group']]);
});

test.run();
