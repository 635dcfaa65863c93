/**
 * A router that is connected but does not read (a stopped process, a stalled host) must not
 * make the access server hold what it cannot send: past IM_CHANNEL_QUEUE_LIMIT_BYTES unsent
 * publishes are dropped, and once the socket has taken nothing for 2 s the link is taken for
 * down, closed and reconnected; the queue-depth metric shows it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import type { ImClient } from '../../src/client/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

let im: Im;
let accepted = 0;
const stuck: net.Socket[] = [];
const router = net.createServer((s) => {
  accepted++;
  s.pause(); // never reads
  s.on('error', () => {});
  stuck.push(s);
});
const clients: ImClient[] = [];

test.before(loud(async () => {
  router.listen(0, '127.0.0.1');
  await once(router, 'listening');
  const port = (router.address() as net.AddressInfo).port;
  im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_ROUTE_ADDRS: `127.0.0.1:${port}`, IM_CHANNEL_QUEUE_LIMIT_BYTES: '1MiB', IM_LOG_LEVEL: 'warn' });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im?.stop();
  for (const s of stuck) s.destroy();
  router.close();
}));

const queuedBytes = async () => {
  const text = (await httpJson(im.httpPort, '/metrics')).body as string;
  return Number(/im_channel_queue_bytes\{router="[^"]+"\} (\d+)/.exec(text)?.[1] ?? NaN);
};

test('a router that stops reading: the link is cut past the byte limit and redialled; what waits stays bounded and is measured', async () => {
  await eventually(() => accepted >= 1, 5000, 'linked');
  const a = await login(im, 1, 1);
  clients.push(a);
  const payload = Buffer.alloc(16_000, 0x61);
  let most = 0;
  for (let i = 0; i < 3000; i++) {
    a.sendRT({ receiver: 2, content: payload }); // published to the router: 2 is online nowhere here
    if (i % 200 === 199) {
      await a.ping();
      most = Math.max(most, await queuedBytes());
    }
  }
  await eventually(() => accepted >= 2, 10_000, 'the stalled link was closed and dialled again');
  assert.ok(Number.isFinite(most), 'the metric is there');
  assert.ok(most <= 2 * 1024 * 1024, `at most about the limit waits (${most} bytes seen)`);
  await eventually(() => im.lines.some((l) => l.includes('router not reading')), 3000, 'the reason is logged');
  await a.ping();
  assert.not.ok(a.closed, 'clients are not affected');
});

test.run();
