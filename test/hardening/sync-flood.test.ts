/**
 * Sync replies are answered one at a time per connection, each after the one before was
 * written: a sync page is never dropped by the queue limit, so a client that repeats SYNC
 * without reading used to make the server hold a page per request (100 requests for a
 * 32 MB backlog: 5.8 GB). Repeats coalesce into the newest; too many distinct ones waiting
 * cut the client off as a slow consumer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { Cmd, FrameDecoder, SERVER_CMDS, codecs, encodeFrame, type Frame } from '../../src/protocol/index.ts';
import { httpJson } from '../helpers/process.ts';
import { login, startIm, token, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 5;
let im: Im;

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '1' });
}));

test.after(loud(async () => {
  await im?.stop();
}));

/** A raw connection authenticated as uid, recording every frame the server sends. */
async function raw(uid: number): Promise<{ s: net.Socket; frames: Frame[]; closed: Promise<unknown> }> {
  const s = net.connect({ port: im.port, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  const frames: Frame[] = [];
  const d = new FrameDecoder({ accept: SERVER_CMDS });
  s.on('data', (c: Buffer) => d.push(c, (f) => frames.push({ ...f, body: Buffer.from(f.body) })));
  const closed = once(s, 'close');
  s.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 1, token: await token(APP, uid), device_id: `raw-${uid}` }, 1, 2));
  while (!frames.some((f) => f.cmd === Cmd.AUTH_STATUS)) await once(s, 'data');
  return { s, frames, closed };
}

test('100 SYNC requests at once get a couple of whole replies, not 100', async () => {
  const sender = await login(im, APP, 1);
  for (let i = 0; i < 50; i++) await sender.sendIM({ receiver: 2, content: `m${i}` });
  const c = await raw(2);
  c.s.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => encodeFrame(codecs.SYNC, { sync_key: 0 }, 2 + i, 2))));
  const ping = encodeFrame(codecs.PING, {}, 200, 2);
  // Fence: once every request was read, a PING answered after the last reply's end.
  const replies = () => c.frames.filter((f) => f.cmd === Cmd.SYNC_END).length;
  for (let tries = 0; tries < 150; tries++) {
    const before = c.frames.length;
    c.s.write(ping);
    while (!c.frames.slice(before).some((f) => f.cmd === Cmd.PONG)) await once(c.s, 'data');
    if (replies() >= 2 && c.frames.length === before + 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const cmds = c.frames.filter((f) => f.cmd !== Cmd.PONG && f.cmd !== Cmd.AUTH_STATUS).map((f) => f.cmd);
  const begins = cmds.filter((x) => x === Cmd.SYNC_BEGIN).length;
  assert.ok(begins >= 2 && begins <= 10, `${begins} replies`);
  // Each reply whole and alone: BEGIN, the 50 messages, END, never interleaved.
  const one = [Cmd.SYNC_BEGIN, ...Array.from({ length: 50 }, () => Cmd.IM), Cmd.SYNC_END];
  assert.equal(cmds, Array.from({ length: begins }, () => one).flat());
  sender.destroy();
  c.s.destroy();
});

test('more distinct sync requests waiting than a client may have: it is cut off as a slow consumer', async () => {
  const c = await raw(3);
  const before = (await httpJson(im.httpPort, '/summary')).body.dropped_count.slow_consumer as number;
  c.s.write(Buffer.concat(Array.from({ length: 300 }, (_, i) => encodeFrame(codecs.SYNC_GROUP, { group_id: 1000 + i, sync_key: 0 }, 2 + i, 2))));
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('not cut off within 10 s')), 10_000).unref());
  await Promise.race([c.closed, timeout]);
  assert.is((await httpJson(im.httpPort, '/summary')).body.dropped_count.slow_consumer, before + 1);
  const other = await login(im, APP, 4);
  await other.ping();
  other.destroy();
});

test.run();
