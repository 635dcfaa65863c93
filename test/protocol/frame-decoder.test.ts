import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLIENT_CMDS, Cmd, FrameDecoder, ProtocolError, codecs, encodeFrame, type Frame } from '../../src/protocol/index.ts';

const roomIm = (i: number) =>
  encodeFrame(codecs.ROOM_IM, { sender: i, receiver: 9, content: Buffer.alloc(i % 50, i) }, i, 2);

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): { frames: Frame[]; error?: ProtocolError } {
  const frames: Frame[] = [];
  for (const c of chunks) {
    const error = decoder.push(c, (f) => frames.push(f));
    if (error) return { frames, error };
  }
  return { frames };
}

test('many frames in one chunk come out as views, in order', () => {
  const stream = Buffer.concat(Array.from({ length: 100 }, (_, i) => roomIm(i + 1)));
  const { frames, error } = decodeAll(new FrameDecoder(), [stream]);
  assert.is(error, undefined);
  assert.is(frames.length, 100);
  frames.forEach((f, i) => assert.is(f.seq, i + 1));
  assert.is(frames[5]!.body.buffer, stream.buffer, 'no copy for a frame inside one chunk');
});

test('frames split at every byte boundary decode identically', () => {
  const stream = Buffer.concat([roomIm(1), roomIm(2), roomIm(3)]);
  const whole = decodeAll(new FrameDecoder(), [stream]).frames;
  for (let cut = 1; cut < stream.length; cut++) {
    const parts = decodeAll(new FrameDecoder(), [stream.subarray(0, cut), stream.subarray(cut)]).frames;
    assert.equal(parts, whole, `cut at ${cut}`);
  }
  const bytewise = decodeAll(new FrameDecoder(), [...stream].map((b) => Buffer.from([b]))).frames;
  assert.equal(bytewise, whole);
});

test('buffered counts only the incomplete tail', () => {
  const d = new FrameDecoder();
  const f = roomIm(7);
  d.push(f.subarray(0, 5), () => {});
  assert.is(d.buffered, 5);
  d.push(Buffer.concat([f.subarray(5), f.subarray(0, 3)]), () => {});
  assert.is(d.buffered, 3);
});

test('body length over the limit or negative fails from the header alone', () => {
  const over = Buffer.from('00008000 00000001 04 02 00 00'.replace(/ /g, ''), 'hex');
  const r1 = decodeAll(new FrameDecoder(), [over]);
  assert.is(r1.error?.code, 'ERR_BODY_LENGTH');
  assert.is(r1.error?.cmd, Cmd.IM);
  const neg = Buffer.from('ffffffff 00000001 04 02 00 00'.replace(/ /g, ''), 'hex');
  assert.is(decodeAll(new FrameDecoder(), [neg]).error?.code, 'ERR_BODY_LENGTH');
  const limit = Buffer.from('00007fff 00000001 04 02 00 00'.replace(/ /g, ''), 'hex');
  assert.is(decodeAll(new FrameDecoder(), [limit]).error, undefined, '32767 is the largest legal body');
});

test('client whitelist rejects server-only and unknown cmds, after the good frames before them', () => {
  const sys = encodeFrame(codecs.SYSTEM, { content: Buffer.from('x') }, 3, 2);
  const unknown = Buffer.from(encodeFrame(codecs.PING, {}, 4, 2));
  unknown[8] = 200;
  for (const bad of [sys, unknown]) {
    const d = new FrameDecoder({ accept: CLIENT_CMDS });
    const { frames, error } = decodeAll(d, [Buffer.concat([roomIm(1), bad, roomIm(2)])]);
    assert.is(frames.length, 1);
    assert.is(error?.code, 'ERR_CMD_NOT_ALLOWED');
    assert.is(error?.cmd, bad[8]);
    assert.is(d.push(roomIm(3), () => assert.unreachable('decoder stays failed')), error);
  }
});

test('the whitelist applies to a header split across chunks', () => {
  const sys = encodeFrame(codecs.SYSTEM, { content: Buffer.from('x') }, 3, 2);
  const { error } = decodeAll(new FrameDecoder({ accept: CLIENT_CMDS }), [sys.subarray(0, 4), sys.subarray(4, 10), sys.subarray(10, 13)]);
  assert.is(error?.code, 'ERR_CMD_NOT_ALLOWED');
});

test('a frame spanning chunks is copied once and stays valid', () => {
  const f = roomIm(33);
  const a = Buffer.from(f.subarray(0, 20));
  const b = Buffer.from(f.subarray(20));
  const { frames } = decodeAll(new FrameDecoder(), [a, b]);
  a.fill(0);
  b.fill(0);
  assert.is(frames[0]!.body.toString('hex'), f.subarray(12).toString('hex'));
});

test.run();
