/**
 * A client that stops reading may hold at most IM_QUEUE_LIMIT_BYTES (its queue and its
 * socket's buffer): past that it is disconnected with a logged reason, as NATS and Redis do
 * with slow consumers, and nobody else notices.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import type { ImClient } from '../../src/client/index.ts';
import { codecs, encodeFrame } from '../../src/protocol/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, record, startIm, token, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 2;
let im: Im;
const clients: ImClient[] = [];

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '2', IM_STORE: 'off', IM_QUEUE_LIMIT_BYTES: '1MiB', IM_LOG_LEVEL: 'warn' });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im?.stop();
}));

test('a client that never reads is disconnected past IM_QUEUE_LIMIT_BYTES, logged and counted; others carry on', async () => {
  const slow = net.connect({ port: im.port, host: '127.0.0.1' });
  slow.on('error', () => {});
  await once(slow, 'connect');
  slow.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await token(APP, 50), device_id: 'slow' }, 1, 2));
  await once(slow, 'data');
  slow.pause();
  const flooder = await login(im, APP, 51);
  const friend = await login(im, APP, 52);
  clients.push(flooder, friend);
  const payload = Buffer.alloc(16_000, 0x61);
  for (let i = 0; i < 2000; i++) {
    flooder.sendRT({ receiver: 50, content: payload });
    if (i % 100 === 99) await flooder.ping();
  }
  const slowCount = async () => ((await httpJson(im.httpPort, '/summary')).body.shards as { slowDisconnects: number }[]).reduce((n, s) => n + s.slowDisconnects, 0);
  await eventually(async () => (await slowCount()) >= 1, 5000, 'the slow client was disconnected');
  assert.is(await slowCount(), 1, 'once');
  // Reading again, the client finds what was sent before the cut, then the end.
  const closed = once(slow, 'close');
  slow.resume();
  await closed;
  await eventually(() => im.lines.some((l) => l.includes('slow consumer') && l.includes('"uid":50')), 3000, 'the reason is logged');
  // Nobody else noticed.
  const got = friend.next('rt');
  flooder.sendRT({ receiver: 52, content: 'still flowing' });
  assert.is((await got)[0].content.toString(), 'still flowing');
  const acks = record(flooder, 'ack');
  assert.is((await flooder.sendIM({ receiver: 52, content: 'x' })).status, 0);
  await acks.done();
  assert.not.ok(flooder.closed);
});

test.run();
