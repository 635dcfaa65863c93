import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Cmd, Flag, FrameDecoder, codecs, encodeBody, frameCount, outFrame, wireSize, writeOut, type Frame, type OutFrame,
} from '../../src/protocol/index.ts';

function write(frames: OutFrame[], version: number, seq: number): Frame[] {
  const total = frames.reduce((n, f) => n + wireSize(f, version), 0);
  const b = Buffer.alloc(total);
  let p = 0;
  for (const f of frames) {
    p = writeOut(b, p, f, version, seq);
    seq += frameCount(f);
  }
  assert.is(p, total, 'wireSize is exact');
  const out: Frame[] = [];
  assert.is(new FrameDecoder().push(b, (f) => out.push(f)), undefined);
  return out;
}

const im = encodeBody(codecs.IM, { sender: 1, receiver: 2, timestamp: 1700000000, msgid: 9, content: Buffer.from('hi') }, 2);

test('a stored message is written as METADATA, itself, SYNC_NOTIFY (or SYNC_GROUP_NOTIFY), numbered in turn', () => {
  const got = write([
    outFrame(Cmd.IM, Flag.PUSH, im, { key: 5, prev: 4, notify: true, gid: 0 }),
    outFrame(Cmd.GROUP_IM, Flag.PUSH | Flag.SUPER_GROUP, im, { key: 7, prev: 6, notify: true, gid: -3 }),
    outFrame(Cmd.ACK, 0, encodeBody(codecs.ACK, { seq: 1, status: 0 }, 2), { key: 8, prev: 0, notify: false, gid: 0 }),
    outFrame(Cmd.RT, 0, Buffer.alloc(16)),
  ], 2, 10);
  assert.equal(got.map((f) => [f.cmd, f.seq]), [
    [Cmd.METADATA, 10], [Cmd.IM, 11], [Cmd.SYNC_NOTIFY, 12],
    [Cmd.METADATA, 13], [Cmd.GROUP_IM, 14], [Cmd.SYNC_GROUP_NOTIFY, 15],
    [Cmd.METADATA, 16], [Cmd.ACK, 17], [Cmd.RT, 18],
  ]);
  const meta = (f: Frame) => codecs.METADATA.forVersion(2).decode(f.body, 0, f.body.length);
  assert.equal(meta(got[0]!), { sync_key: 5, prev_sync_key: 4 } as never);
  assert.equal(codecs.SYNC_NOTIFY.forVersion(2).decode(got[2]!.body, 0, 8), { sync_key: 5 });
  assert.equal(codecs.SYNC_GROUP_NOTIFY.forVersion(2).decode(got[5]!.body, 0, 16), { group_id: -3, sync_key: 7 });
  assert.equal(meta(got[6]!), { sync_key: 8, prev_sync_key: 0 } as never);
  assert.is(got[1]!.flag, Flag.PUSH);
});

test('a version-0 connection gets IM without the timestamp, its METADATA and notify unchanged', () => {
  const got = write([outFrame(Cmd.IM, Flag.PUSH, im, { key: 1, prev: 0, notify: true, gid: 0 })], 0, 1);
  assert.equal(got.map((f) => [f.cmd, f.version]), [[Cmd.METADATA, 0], [Cmd.IM, 0], [Cmd.SYNC_NOTIFY, 0]]);
  const m = codecs.IM.forVersion(0).decode(got[1]!.body, 0, got[1]!.body.length) as { sender: number; msgid: number; content: Buffer };
  assert.equal([m.sender, m.msgid, m.content.toString()], [1, 9, 'hi']);
  assert.is(got[1]!.body.length, im.length - 4);
});

test.run();
