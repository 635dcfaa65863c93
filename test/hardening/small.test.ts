/**
 * Smaller doors: a too-short AUTH_TOKEN closes the connection (as the reference does); an
 * upload the client aborts is not a server error; the SDK never writes after close and
 * refuses a uid that is not its token's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { ImClient } from '../../src/client/index.ts';
import { codecs, encodeFrame } from '../../src/protocol/index.ts';
import { httpJson } from '../helpers/process.ts';
import { login, startIm, token, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

let im: Im;

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_LOG_LEVEL: 'debug' });
}));

test.after(loud(async () => {
  await im?.stop();
}));

test('an AUTH_TOKEN body of 3 bytes closes the connection; 4 bytes gets AUTH_STATUS 1', async () => {
  const s = net.connect({ port: im.port, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  // AUTH_TOKEN (cmd 15, version 2), body: platform 2, empty token, empty device id
  const short = Buffer.from('00000003000000010f020000' + '020000', 'hex');
  s.write(short);
  await once(s, 'close');
  const c = await ImClient.connect({ port: im.port });
  assert.is(await c.auth({ token: 'x' }), 1, 'a 4-byte body parses and fails auth without closing');
  assert.not.ok(c.closed);
  c.destroy();
});

test('an HTTP upload the client aborts is logged at debug, never as a server error', async () => {
  const s = net.connect({ port: im.httpPort, host: '127.0.0.1' });
  await once(s, 'connect');
  s.write('POST /post_peer_message?appid=1&sender=1&receiver=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly-a-little');
  await new Promise((r) => setImmediate(r));
  s.destroy();
  assert.is((await httpJson(im.httpPort, '/healthz')).status, 200);
  const mark = im.lines.length;
  // Fence: a later request is handled after the aborted one was.
  assert.is((await httpJson(im.httpPort, '/summary')).status, 200);
  assert.not.ok(im.lines.some((l) => l.includes('"level":50')), 'no error-level line');
  assert.ok(im.lines.length >= mark);
});

test('SDK: close() while pushed messages keep arriving does not write after the end (no crash)', async () => {
  const flooder = await login(im, 1, 10);
  const receiver = await login(im, 1, 11);
  for (let i = 0; i < 500; i++) flooder.post(codecs.IM, { sender: 10, receiver: 11, timestamp: 0, msgid: i, content: Buffer.from('push') });
  await receiver.next('im');
  await receiver.close(); // auto-ACKs for what still arrives must not be written
  await flooder.ping();
  assert.ok(receiver.closed);
  flooder.destroy();
});

test("SDK: a uid option that is not the token's is refused at auth, not left to time out", async () => {
  const c = await ImClient.connect({ port: im.port, uid: 5 });
  try {
    await c.auth({ token: await token(1, 6) });
    assert.unreachable('auth should refuse');
  } catch (err) {
    assert.instance(err, RangeError);
    assert.match((err as Error).message, /uid option \(5\) is not the token's uid \(6\)/);
  }
  c.destroy();
  const d = await ImClient.connect({ port: im.port });
  assert.is(await d.auth({ token: await token(1, 7) }), 0);
  assert.is(d.uid, 7, 'taken from the token when not given');
  assert.is((await d.sendIM({ receiver: 8, content: 'x' })).status, 0);
  d.destroy();
});

test.run();
