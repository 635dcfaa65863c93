/**
 * Raw TCP reads land in one buffer per shard thread and are copied out at their size. Frames
 * that outlive their read (queued for the end of the turn, or waiting for a partial frame's
 * rest) must never see that buffer reused: two senders write IMs cut at random places, many
 * per write and large ones across reads, and every byte the receivers get is checked.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { Cmd, FrameDecoder, PROTOCOL_VERSION, SERVER_CMDS, codecs, encodeFrame, type Frame } from '../../src/protocol/index.ts';
import type { ImClient } from '../../src/client/index.ts';
import { login, startIm, token, type Im } from '../helpers/im.ts';

const APP = 5;
const PER_SENDER = 600;

/** A raw TCP client of `uid`, authenticated; returns the socket and what it has read. */
async function rawSender(im: Im, uid: number): Promise<{ s: net.Socket; frames: Frame[]; closed: () => boolean }> {
  const s = net.connect({ port: im.port, host: '127.0.0.1' });
  await once(s, 'connect');
  s.setNoDelay(true);
  const frames: Frame[] = [];
  const d = new FrameDecoder({ accept: SERVER_CMDS });
  s.on('data', (c: Buffer) => d.push(c, (f) => frames.push({ ...f, body: Buffer.from(f.body) })));
  let closed = false;
  s.on('error', () => {});
  s.on('close', () => { closed = true; });
  s.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 1, token: await token(APP, uid), device_id: `raw-${uid}` }, 1, PROTOCOL_VERSION));
  while (!frames.some((f) => f.cmd === Cmd.AUTH_STATUS)) await new Promise((r) => setTimeout(r, 5));
  return { s, frames, closed: () => closed };
}

/** Content i of sender `uid`: its own length (some over 64 KiB of reads together) and bytes. */
function content(uid: number, i: number): Buffer {
  const n = i % 50 === 0 ? 20_000 + (i % 7) * 1000 : 8 + ((i * 37) % 300);
  const b = Buffer.alloc(n);
  for (let k = 0; k < n; k++) b[k] = (uid * 31 + i * 7 + k) & 0xff;
  b.writeUInt32BE(i, 0);
  return b;
}

/** Writes `bytes` to `s` in pieces of random size (1 byte to 3 frames' worth), yielding between some. */
async function writeCut(s: net.Socket, bytes: Buffer, seed: number): Promise<void> {
  let x = seed;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  for (let p = 0; p < bytes.length;) {
    const n = 1 + rnd(rnd(4) === 0 ? 40_000 : 400);
    s.write(bytes.subarray(p, p + n));
    p += n;
    if (rnd(8) === 0) await new Promise((r) => setImmediate(r));
  }
}

test('frames cut anywhere, from two sockets read in the same turns, arrive whole', async () => {
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_LOG_LEVEL: 'fatal' });
  const receivers: ImClient[] = [];
  const senders: net.Socket[] = [];
  try {
    const got = new Map<number, Buffer[]>();
    for (const r of [201, 202]) {
      const c = await login(im, APP, r);
      receivers.push(c);
      got.set(r, []);
      c.on('im', (m) => got.get(r)!.push(Buffer.from(m.content)));
    }
    const pairs = [[101, 201], [102, 202]] as const;
    const raw = await Promise.all(pairs.map(([s]) => rawSender(im, s)));
    senders.push(...raw.map((r) => r.s));
    await Promise.all(pairs.map(([s, r], k) => {
      const frames = Array.from({ length: PER_SENDER }, (_, i) =>
        encodeFrame(codecs.IM, { sender: s, receiver: r, timestamp: 0, msgid: 0, content: content(s, i) }, 2 + i, PROTOCOL_VERSION));
      return writeCut(raw[k]!.s, Buffer.concat(frames), s);
    }));
    const deadline = Date.now() + 20_000;
    const done = () => pairs.every(([, r]) => got.get(r)!.length >= PER_SENDER) || raw.some((x) => x.closed());
    while (!done() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    raw.forEach((x, k) => assert.not.ok(x.closed(), `the server kept sender ${pairs[k]![0]}: every frame it read was valid`));
    for (const [s, r] of pairs) {
      const list = got.get(r)!;
      assert.is(list.length, PER_SENDER, `receiver ${r} got every message`);
      list.forEach((b, i) => assert.ok(b.equals(content(s, i)), `message ${i} from ${s} intact`));
    }
    // Every IM was acknowledged, in order.
    for (const { frames } of raw) {
      const acks = frames.filter((f) => f.cmd === Cmd.ACK);
      assert.is(acks.length, PER_SENDER);
      acks.forEach((f, i) => assert.is(f.body.readUInt32BE(0), 2 + i, 'the ACK names its IM\'s seq'));
    }
  } finally {
    for (const s of senders) s.destroy();
    for (const c of receivers) c.destroy();
    await im.stop();
  }
});

test.run();
