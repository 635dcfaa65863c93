/**
 * The shard builds its writes in a shared slab (WriteArena) and must never write over bytes a
 * socket has not sent yet: the unit rules, then a real server where one receiver stops
 * reading (its socket keeps a write) while another keeps reading, and every byte the slow one
 * finally reads is checked.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { WriteArena } from '../../src/shard/write-arena.ts';
import { Cmd, FrameDecoder, codecs, encodeFrame, type Frame } from '../../src/protocol/index.ts';
import type { ImClient } from '../../src/client/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, startIm, token, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';
import { selfSignedCert } from '../helpers/tls.ts';

test('a slab nobody holds is carved again from its start', () => {
  const a = new WriteArena(1024);
  const first = a.take(600);
  a.written(first, false);
  const second = a.take(600);
  assert.is(second.buffer, first.buffer, 'the same slab');
  assert.is(second.byteOffset, first.byteOffset, 'from its start again');
  assert.is(a.replaced, 0);
});

test('a slab a socket holds is carved on past what it holds, then replaced', () => {
  const a = new WriteArena(1024);
  const held = a.take(300);
  a.written(held, true);
  const next = a.take(300);
  assert.is(next.buffer, held.buffer);
  assert.ok(next.byteOffset >= held.byteOffset + 300, 'past the held bytes');
  a.written(next, false);
  const third = a.take(600);
  assert.is.not(third.buffer, held.buffer, 'a new slab once the held one is full');
  assert.is(a.replaced, 1);
  a.written(third, false);
  const fourth = a.take(600);
  assert.is(fourth.buffer, third.buffer, 'and the new one is reused while nobody holds it');
});

test('a write larger than a slab gets a buffer of its own, and holding it pins nothing', () => {
  const a = new WriteArena(1024);
  const small = a.take(100);
  const big = a.take(4096);
  assert.is(big.length, 4096);
  assert.is.not(big.buffer, small.buffer);
  a.written(big, true);
  a.take(1000);
  assert.is(a.replaced, 0);
});

const APP = 3;
/** At most this many messages to each receiver (64 MB) to fill the slow one's socket buffers. */
const MAX = 64_000;
/** A turn's writes to one receiver (a batch of BATCH) fit in one slab. */
const SIZE = 1000;
const BATCH = 40;
let im: Im;
const clients: ImClient[] = [];
const cert = selfSignedCert();

test.before(loud(async () => {
  im = await startIm({
    IM_SHARDS: '1', IM_STORE: 'off', IM_QUEUE_LIMIT: '100000', IM_QUEUE_LIMIT_BYTES: '256MiB', IM_LOG_LEVEL: 'warn',
    IM_TLS_PORT: '0', IM_TLS_CERT: cert.certFile, IM_TLS_KEY: cert.keyFile,
  });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im?.stop();
}));

/** Message i's content for receiver `salt`: every byte says which message and receiver it is. */
function content(i: number, salt: number): Buffer {
  const b = Buffer.alloc(SIZE);
  b.writeUInt32BE(i, 0);
  for (let j = 4; j < SIZE; j++) b[j] = (i * 31 + j * 7 + salt * 101) & 0xff;
  return b;
}

async function slowReader(transport: 'tcp' | 'tls', uids: [number, number, number]): Promise<void> {
  const [slowUid, flooderUid, fastUid] = uids;
  const slow = transport === 'tls'
    ? tls.connect({ port: im.tlsPort!, host: '127.0.0.1', ca: cert.cert })
    : net.connect({ port: im.port, host: '127.0.0.1' });
  slow.on('error', () => {});
  await once(slow, transport === 'tls' ? 'secureConnect' : 'connect');
  const frames: Frame[] = [];
  const decoder = new FrameDecoder({ maxBody: 1 << 20 });
  slow.on('data', (chunk: Buffer) => { decoder.push(chunk, (f) => frames.push(f)); });
  slow.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await token(APP, slowUid), device_id: 'slow' }, 1, 2));
  await eventually(() => frames.some((f) => f.cmd === Cmd.AUTH_STATUS), 5000, 'the slow client is logged in');
  slow.pause();

  const flooder = await login(im, APP, flooderUid);
  const fast = await login(im, APP, fastUid);
  clients.push(flooder, fast);
  let fastGot = 0;
  fast.on('rt', (m: { content: Buffer }) => {
    if (m.content.equals(content(fastGot, 2))) fastGot++;
  });
  // Until the slow socket's buffers are full and it holds a write (a slab replaced), however
  // much this machine's kernel buffers.
  const slabs = async () => ((await httpJson(im.httpPort, '/summary')).body.shards[0] as { write_slabs: number }).write_slabs;
  const before = await slabs();
  let sent = 0;
  while (sent < MAX && (sent < 100 || await slabs() === before)) {
    for (const end = sent + BATCH; sent < end; sent++) {
      flooder.sendRT({ receiver: slowUid, content: content(sent, 1) });
      flooder.sendRT({ receiver: fastUid, content: content(sent, 2) });
    }
    await flooder.ping();
  }
  assert.ok(await slabs() > before, 'the slow socket held a write, so a slab was replaced');
  const metrics = (await httpJson(im.httpPort, '/metrics')).body as string;
  const counted = Number(/^im_write_slabs_total\{shard="0"\} (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(counted > before, 'and /metrics counts it');
  await eventually(() => fastGot === sent, 20_000, 'the reading receiver got every message, in order and intact');

  slow.resume();
  await eventually(() => frames.filter((f) => f.cmd === Cmd.RT).length >= sent, 20_000, 'the slow receiver read everything');
  const rts = frames.filter((f) => f.cmd === Cmd.RT);
  assert.is(rts.length, sent);
  rts.forEach((f, i) => {
    assert.ok(f.body.subarray(16).equals(content(i, 1)), `message ${i} arrived intact`);
  });
  const seqs = frames.map((f) => f.seq);
  assert.equal(seqs, seqs.map((_, i) => seqs[0]! + i), 'numbered without a gap');
  slow.destroy();
}

test('a receiver that stops reading gets every byte intact while the slabs serve others', () => slowReader('tcp', [50, 51, 52]));
test('the same over TLS', () => slowReader('tls', [60, 61, 62]));

test.run();
