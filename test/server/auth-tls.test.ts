import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImClient } from '../../src/client/index.ts';
import { startIm, type Im } from '../helpers/im.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { selfSignedCert } from '../helpers/tls.ts';
import { eventually } from '../helpers/process.ts';
import { loud } from '../helpers/loud.ts';

let redis: RedisServer;
let im: Im;
const tlsFiles = selfSignedCert();

test.before(loud(async () => {
  redis = await startRedis();
  im = await startIm({
    IM_SHARDS: '2', IM_AUTH: 'redis', IM_REDIS_URL: redis.url,
    IM_TLS_PORT: '0', IM_WSS_PORT: '0', IM_TLS_CERT: tlsFiles.certFile, IM_TLS_KEY: tlsFiles.keyFile,
  });
}));

test.after(loud(async () => {
  assert.is(await im?.stop(), 0);
  await redis?.stop();
}));

async function redisLogin(token: string, uid: number, o: { transport?: 'tcp' | 'tls' | 'ws' | 'wss'; platform?: number } = {}): Promise<[ImClient, number]> {
  const transport = o.transport ?? 'tcp';
  const port = { tcp: im.port, ws: im.wsPort, tls: im.tlsPort!, wss: im.wssPort! }[transport];
  const c = await ImClient.connect({ port, transport, uid, tls: { ca: tlsFiles.cert } });
  return [c, await c.auth({ token, platform: o.platform })];
}

test('redis auth: access_token_<token> gives the identity; a missing key fails', async () => {
  await redis.client.hset('access_token_tok-a', { user_id: '101', app_id: '5' });
  await redis.client.hset('access_token_tok-b', { user_id: '102', app_id: '5', user_name: 'bob' });
  const [a, sa] = await redisLogin('tok-a', 101);
  const [b, sb] = await redisLogin('tok-b', 102);
  assert.equal([sa, sb], [0, 0]);
  const got = b.next('im');
  await a.sendIM({ receiver: 102, content: 'via redis auth' });
  assert.is((await got)[0].content.toString(), 'via redis auth');
  const [x, sx] = await redisLogin('no-such-token', 1);
  assert.is(sx, 1);
  a.post((await import('../../src/protocol/index.ts')).codecs.UNREAD_COUNT, { count: 4 });
  await eventually(async () => (await redis.client.hget('users_5_101', 'unread')) === '4', 3000, 'UNREAD_COUNT stored in Redis');
  for (const c of [a, b, x]) await c.close();
});

test('TLS and WSS clients talk to TCP and WS ones', async () => {
  await redis.client.hset('access_token_t1', { user_id: '201', app_id: '5' });
  await redis.client.hset('access_token_t2', { user_id: '202', app_id: '5' });
  await redis.client.hset('access_token_t3', { user_id: '203', app_id: '5' });
  const [tls, s1] = await redisLogin('t1', 201, { transport: 'tls' });
  const [wss, s2] = await redisLogin('t2', 202, { transport: 'wss' });
  const [ws, s3] = await redisLogin('t3', 203, { transport: 'ws' });
  assert.equal([s1, s2, s3], [0, 0, 0]);
  const toWss = wss.next('im');
  await tls.sendIM({ receiver: 202, content: 'tls→wss' });
  assert.is((await toWss)[0].content.toString(), 'tls→wss');
  const toTls = tls.next('rt');
  ws.sendRT({ receiver: 201, content: 'ws→tls' });
  assert.is((await toTls)[0].content.toString(), 'ws→tls');
  for (const c of [tls, wss, ws]) await c.close();
});

test('a plain-TCP client on the TLS port fails the handshake and harms nobody', async () => {
  const bad = await ImClient.connect({ port: im.tlsPort!, transport: 'tcp', uid: 1 });
  const closed = bad.next('close', 5000);
  bad.auth({ token: 'x' }).catch(() => {});
  await closed;
  await redis.client.hset('access_token_t4', { user_id: '204', app_id: '5' });
  const [ok, s] = await redisLogin('t4', 204, { transport: 'tls' });
  assert.is(s, 0);
  await ok.close();
});

test.run();
