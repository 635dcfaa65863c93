import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually } from '../helpers/process.ts';
import { login, startIm } from '../helpers/im.ts';
import { startNats } from '../helpers/nats.ts';
import { metric, natsServerOf } from '../helpers/nats-cluster.ts';

/*
 * No NATS node reachable: what shards publish meanwhile is held within
 * IM_CHANNEL_QUEUE_LIMIT_BYTES, the oldest dropped and counted, and what is held goes out
 * once a node is back.
 */
test('publishes while NATS is away are bounded in bytes, the oldest dropped and counted, the rest sent on reconnect', async () => {
  const nats = await startNats({ size: 1 });
  const limit = 64 * 1024;
  const im = await startIm({ IM_NATS_URL: nats.url, IM_SHARDS: '1', IM_STORE: 'off', IM_CHANNEL_QUEUE_LIMIT_BYTES: String(limit) });
  const c = await login(im, 1, 1);
  try {
    assert.ok(im.lines.some((l) => l.includes('IM_NATS_URL without IM_REDIS_URL')), 'start-up says offline pushes go nowhere');
    await nats.kill(0);
    await eventually(async () => (await natsServerOf(im)).state !== 'up', 10_000, 'the server sees NATS gone');
    const body = 'x'.repeat(200);
    for (let i = 0; i < 2000; i++) c.sendRT({ receiver: 999, content: body });
    await c.ping();
    await eventually(async () => (await metric(im, 'im_nats_dropped_total')) > 0, 10_000, 'the oldest dropped');
    const pending = await metric(im, 'im_nats_pending_bytes');
    assert.ok(pending > 0 && pending <= limit, `held ${pending} bytes, at most ${limit}`);
    const publishedBefore = await metric(im, 'im_nats_dropped_total');
    await nats.restart(0);
    await eventually(async () => (await natsServerOf(im)).state === 'up' && (await metric(im, 'im_nats_pending_bytes')) === 0, 15_000, 'held publishes sent');
    assert.is(await metric(im, 'im_nats_dropped_total'), publishedBefore, 'nothing more dropped');
  } finally {
    c.destroy();
    assert.is(await im.stop(), 0);
    await nats.stop();
  }
});

test.run();
