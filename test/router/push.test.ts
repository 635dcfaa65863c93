import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { codecs, encodeFrame } from '../../src/protocol/index.ts';
import { pushItems, PushQueue, RedisPushSink } from '../../src/push/push.ts';
import { createLogger } from '../../src/log/logger.ts';
import { FakeLink } from '../helpers/link.ts';
import { eventually, httpJson, startProcess, type Started } from '../helpers/process.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { loud } from '../helpers/loud.ts';

const im = encodeFrame(codecs.IM, { sender: 5, receiver: 101, timestamp: 1, msgid: 1, content: Buffer.from('héllo') }, 1, 2);
const groupIm = encodeFrame(codecs.GROUP_IM, { sender: 5, receiver: 77, timestamp: 1, msgid: 1, content: Buffer.from('g') }, 1, 2);
const system = encodeFrame(codecs.SYSTEM, { content: Buffer.from('{"k":1}') }, 1, 2);
const customer = encodeFrame(codecs.CUSTOMER_V2, { sender_appid: 3, sender: 4, receiver_appid: 1, receiver: 102, timestamp: 1, content: Buffer.from('c') }, 1, 2);
const rt = encodeFrame(codecs.RT, { sender: 5, receiver: 101, content: Buffer.from('r') }, 1, 2);

test('pushItems: the queue and JSON of each pushed cmd; others push nothing', () => {
  assert.equal(pushItems(1, [101, 102], im), [
    { queue: 'push_queue', json: '{"appid":1,"sender":5,"receiver":101,"content":"héllo"}' },
    { queue: 'push_queue', json: '{"appid":1,"sender":5,"receiver":102,"content":"héllo"}' },
  ]);
  assert.equal(pushItems(1, [101, 102], groupIm), [
    { queue: 'group_push_queue', json: '{"appid":1,"sender":5,"receivers":[101,102],"content":"g","group_id":77}' },
  ]);
  assert.equal(pushItems(1, [9], system), [{ queue: 'system_push_queue', json: '{"appid":1,"receiver":9,"content":"{\\"k\\":1}"}' }]);
  assert.equal(pushItems(1, [102], customer), [
    { queue: 'customer_push_queue_v2', json: '{"appid":1,"sender_appid":3,"sender":4,"receiver_appid":1,"receiver":102,"content":"c"}' },
  ]);
  assert.equal(pushItems(1, [101], rt), []);
  assert.equal(pushItems(1, [], im), []);
  assert.equal(pushItems(1, [1], Buffer.from('garbage')), [], 'an embedded frame that does not parse pushes nothing');
});

let redis: RedisServer;
let imr: Started;
let A: FakeLink, B: FakeLink;

test.before(loud(async () => {
  redis = await startRedis();
  imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', IMR_REDIS_URL: redis.url });
  A = await FakeLink.connect(imr.ready.port as number);
  B = await FakeLink.connect(imr.ready.port as number);
}));

test.after(loud(async () => {
  A?.close();
  B?.close();
  await imr?.stop();
  await redis?.stop();
}));

const list = (q: string) => redis.client.lrange(q, 0, -1);

test('PUSH reaches Redis only for receivers online nowhere, in the reference queues', async () => {
  A.send(codecs.SUBSCRIBE, { appid: 1, uid: 100, online: 1 });
  A.send(codecs.SUBSCRIBE, { appid: 1, uid: 101, online: 0 }); // subscribed, but wants offline push
  await eventually(async () => (await httpJson(imr.ready.httpPort as number, '/all_online')).body[0]?.users.length === 2);
  B.send(codecs.PUSH, { appid: 1, receivers: [100, 101, 102], message: im });
  B.send(codecs.PUSH, { appid: 1, receivers: [100, 101, 102], message: groupIm });
  B.send(codecs.PUSH, { appid: 1, receivers: [100, 103], message: system });
  B.send(codecs.PUSH, { appid: 1, receivers: [102], message: customer });
  B.send(codecs.PUSH, { appid: 1, receivers: [102], message: rt });
  await eventually(async () => (await list(PushQueue.CUSTOMER)).length === 1);
  assert.equal((await list(PushQueue.PEER)).map((j) => JSON.parse(j)), [
    { appid: 1, sender: 5, receiver: 101, content: 'héllo' },
    { appid: 1, sender: 5, receiver: 102, content: 'héllo' },
  ]);
  assert.equal((await list(PushQueue.GROUP)).map((j) => JSON.parse(j)), [
    { appid: 1, sender: 5, receivers: [101, 102], content: 'g', group_id: 77 },
  ]);
  assert.equal((await list(PushQueue.SYSTEM)).map((j) => JSON.parse(j)), [{ appid: 1, receiver: 103, content: '{"k":1}' }]);
  assert.equal((await list(PushQueue.CUSTOMER)).map((j) => JSON.parse(j)), [
    { appid: 1, sender_appid: 3, sender: 4, receiver_appid: 1, receiver: 102, content: 'c' },
  ]);
  const keys = (await redis.client.keys('*')).sort();
  assert.equal(keys, ['customer_push_queue_v2', 'group_push_queue', 'push_queue', 'system_push_queue'], 'RT is never pushed');
});

test('Redis down: routing goes on, pushes wait in the buffer, then go out', async () => {
  await redis.client.del('push_queue');
  // Refuse new connections first (ours stays), then cut the router's: it cannot reconnect.
  await redis.client.call('CONFIG', 'SET', 'maxclients', '1');
  await redis.client.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  B.send(codecs.PUSH, { appid: 1, receivers: [555], message: im });
  const a0 = A.frames.length;
  B.send(codecs.PUBLISH, { appid: 1, receiver: 100, msgid: 1, device_id: 1, timestamp: 1n, message: im });
  await A.waitFrames(a0 + 1);
  await eventually(async () => /imr_push_buffered 1/.test((await httpJson(imr.ready.httpPort as number, '/metrics')).body), 5000, 'push buffered');
  await redis.client.call('CONFIG', 'SET', 'maxclients', '10000');
  await eventually(async () => (await list(PushQueue.PEER)).length === 1, 10_000, 'buffered push written after Redis came back');
  assert.equal(JSON.parse((await list(PushQueue.PEER))[0]!), { appid: 1, sender: 5, receiver: 555, content: 'héllo' });
});

test('Redis away: the push buffer holds at most its bytes, the oldest dropped and counted; the newest go out after', async () => {
  await redis.client.del('push_queue');
  const sink = new RedisPushSink(redis.url, 100_000, 1024 * 1024, createLogger('test', 'silent'));
  await eventually(async () => String(await redis.client.call('CLIENT', 'LIST')).split('\n').filter(Boolean).length >= 3, 5000, 'sink connected');
  await redis.client.call('CONFIG', 'SET', 'maxclients', '1');
  await redis.client.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  const big = 'x'.repeat(100_000);
  for (let i = 0; i < 100; i++) sink.push([{ queue: 'push_queue', json: `{"n":${i},"c":"${big}"}` }]);
  const held = sink.stats();
  assert.ok(held.buffered <= 10 && held.buffered >= 9, `about 1 MiB held: ${held.buffered} items`);
  assert.is(held.dropped, 100 - held.buffered, 'the rest dropped, counted');
  await redis.client.call('CONFIG', 'SET', 'maxclients', '10000');
  await eventually(async () => (await list(PushQueue.PEER)).length === held.buffered, 10_000, 'what was held goes out');
  const sent = (await list(PushQueue.PEER)).map((j) => (JSON.parse(j) as { n: number }).n);
  assert.equal(sent, Array.from({ length: held.buffered }, (_, i) => 100 - held.buffered + i), 'the newest, in order');
  await sink.close();
});

test.run();
