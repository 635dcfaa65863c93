/**
 * With IM_AUTH=redis and Redis away, a login is refused at once (bounded wait), the outage
 * is logged once rather than per login or per UNREAD_COUNT, and counted by reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImClient } from '../../src/client/index.ts';
import { codecs } from '../../src/protocol/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { startIm, type Im } from '../helpers/im.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { loud } from '../helpers/loud.ts';

let redis: RedisServer;
let im: Im;

test.before(loud(async () => {
  redis = await startRedis();
  im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_AUTH: 'redis', IM_REDIS_URL: redis.url, IM_LOG_LEVEL: 'warn' });
}));

let redisStopped = false;

test.after(loud(async () => {
  await im?.stop();
  if (!redisStopped) await redis?.stop();
}));

test('Redis away: logins get AUTH_STATUS 1 quickly, one warning naming IM_REDIS_URL, failures counted as unavailable', async () => {
  await redis.client.hset('access_token_t1', { user_id: '1', app_id: '4' });
  const before = await ImClient.connect({ port: im.port, uid: 1 });
  assert.is(await before.auth({ token: 't1' }), 0);
  await redis.stop();
  redisStopped = true;
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
      const c = await ImClient.connect({ port: im.port, uid: 1 });
      // Without a bounded wait each of these took 7–8 s (the client library queues while offline).
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      c.auth({ token: 't1' }),
      new Promise<number>((_, reject) => { timer = setTimeout(() => reject(new Error('no AUTH_STATUS within 4 s')), 4000); }),
    ]).finally(() => clearTimeout(timer));
      statuses.push(status);
    c.destroy();
  }
  assert.equal(statuses, [1, 1, 1, 1, 1]);
  for (let i = 0; i < 20; i++) before.post(codecs.UNREAD_COUNT, { count: i });
  await before.ping();
  const metrics = (await httpJson(im.httpPort, '/metrics')).body as string;
  assert.match(metrics, /im_auth_failures_total\{shard="0",reason="unavailable"\} 5/);
  await eventually(() => im.lines.some((l) => l.includes('storing UNREAD_COUNT failed')), 5000, 'the UNREAD_COUNT failure is logged');
  const warnings = im.lines.filter((l) => l.includes('token store unreachable'));
  assert.is(warnings.length, 1, 'one warning, not one per login');
  assert.match(warnings[0]!, /IM_REDIS_URL/);
  assert.is(im.lines.filter((l) => l.includes('storing UNREAD_COUNT failed')).length, 1, 'one warning, not one per UNREAD_COUNT');
  assert.not.ok(im.lines.some((l) => l.includes('"stack"')), 'no stack traces for an outage');
  before.destroy();
});

test.run();
