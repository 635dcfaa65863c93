/**
 * A sync page must reach the client whole, however slowly it reads: its frames are not
 * subject to the queue limit that drops the oldest live pushes of a client that lags.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import type { ImClient } from '../../src/client/index.ts';
import { Cmd, FrameDecoder, SERVER_CMDS, codecs, encodeFrame, type Frame } from '../../src/protocol/index.ts';
import { httpJson } from '../helpers/process.ts';
import { login, startIm, token, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 3;
let im: Im;
const clients: ImClient[] = [];

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '1', IM_QUEUE_LIMIT: '20' });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im?.stop();
}));

test('a 3,000-message page queued behind a client that stopped reading arrives whole; only live pushes are dropped', async () => {
  const sender = await login(im, APP, 1);
  clients.push(sender);
  const content = Buffer.alloc(4000, 0x62);
  for (let i = 0; i < 3000; i += 300) {
    await Promise.all(Array.from({ length: 300 }, (_, k) => sender.sendIM({ receiver: 2, content: Buffer.concat([Buffer.from(`${i + k};`), content]) })));
  }
  const s = net.connect({ port: im.port, host: '127.0.0.1' });
  await once(s, 'connect');
  const frames: Frame[] = [];
  const d = new FrameDecoder({ accept: SERVER_CMDS });
  s.on('data', (c: Buffer) => d.push(c, (f) => frames.push(f)));
  s.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await token(APP, 2), device_id: 'slow' }, 1, 2));
  while (!frames.some((f) => f.cmd === Cmd.AUTH_STATUS)) await new Promise((r) => setTimeout(r, 10));
  s.pause();
  // The client stops reading: live messages fill the socket, then its queue (limit 20).
  const big = Buffer.alloc(30_000, 0x63);
  const live = async (from: number, n: number) => {
    for (let i = from; i < from + n; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => sender.sendIM({ receiver: 2, content: Buffer.concat([Buffer.from(`live${i + k};`), big]) })));
    }
  };
  await live(0, 500);
  // The page is queued behind them, then more live messages push the queue past its limit.
  s.write(encodeFrame(codecs.SYNC, { sync_key: 0 }, 2, 2));
  await sender.ping();
  await live(500, 100);
  const dropped = async () => ((await httpJson(im.httpPort, '/summary')).body.shards as { dropped: number }[]).reduce((n, x) => n + x.dropped, 0);
  assert.ok((await dropped()) > 0, 'live pushes beyond the limit were dropped while the client did not read');
  s.resume();
  const end = Date.now() + 20_000;
  while (!frames.some((f) => f.cmd === Cmd.SYNC_END) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const begin = frames.findIndex((f) => f.cmd === Cmd.SYNC_BEGIN);
  const stop = frames.findIndex((f) => f.cmd === Cmd.SYNC_END);
  assert.ok(begin >= 0 && stop > begin, 'the whole reply arrived');
  const page = frames.slice(begin + 1, stop).filter((f) => f.cmd === Cmd.IM && f.flag === 0);
  assert.is(page.length, 3000, 'every message of the page');
  const first = page.map((f) => (codecs.IM.forVersion(2).decode(f.body, 0, f.body.length) as { content: Buffer }).content.toString().split(';')[0]);
  assert.equal(first.slice(0, 3), ['0', '1', '2']);
  assert.is(first[2999], '2999');
  s.destroy();
});

test.run();
