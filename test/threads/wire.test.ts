import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageChannel } from 'node:worker_threads';
import { once } from 'node:events';
import {
  Cmd, Flag, MAX_BODY, ProtocolError, ROUTED_MAX_BODY, codecs, framed, outFrame, parseFrame, readRouteHeader, type Frame, type OutFrame,
} from '../../src/protocol/index.ts';
import { PackedReader, PackedWriter } from '../../src/threads/packed.ts';
import { PortBatcher } from '../../src/threads/batcher.ts';
import { Outlet } from '../../src/threads/turn.ts';
import { HandoffKind, readHandoffs, writeHandoff } from '../../src/threads/handoff.ts';
import { readChannelItems, routeMessage, writeDrained, writePublish, writePublishEach, writePush, writeTransition, type ChannelVisitor } from '../../src/threads/channel-wire.ts';

const IDS = [0, 1, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
const BODIES = [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(MAX_BODY, 0xab)];

function reread(w: PackedWriter): PackedReader {
  return new PackedReader(w.take()!);
}

test('hand-off items round-trip: negative and extreme ids, empty and maximal bodies, every kind', () => {
  const w = new PackedWriter();
  const sent: [number, number, number, OutFrame][] = [];
  for (const id of IDS) {
    for (const body of BODIES) {
      for (const kind of Object.values(HandoffKind)) {
        const f = outFrame(Cmd.IM, Flag.PUSH | Flag.SELF, body);
        writeHandoff(w, kind, -id, id, f);
        sent.push([kind, -id, id, f]);
      }
    }
  }
  const got: [number, number, number, OutFrame][] = [];
  readHandoffs(reread(w), { handoff: (kind, appid, id, f) => got.push([kind, appid, id, { cmd: f.cmd, flag: f.flag, body: Buffer.from(f.body) }]) });
  assert.is(got.length, sent.length);
  got.forEach((g, i) => {
    const s = sent[i]!;
    assert.equal([g[0], g[1], g[2], g[3].cmd, g[3].flag], [s[0], s[1], s[2], s[3].cmd, s[3].flag]);
    assert.ok(g[3].body.equals(s[3].body), `body ${i}`);
  });
  assert.is(new PackedWriter().take(), null, 'nothing written: nothing to post');
});

class Recorder implements ChannelVisitor {
  readonly items: unknown[] = [];
  transition(t: number, appid: number, id: number): void { this.items.push(['t', t, appid, id]); }
  publish(routerCmd: number, receiver: number, frame: Buffer): void { this.items.push(['p', routerCmd, receiver, Buffer.from(frame)]); }
  push(cmd: number, flag: number, appid: number, receivers: number[], body: Buffer): void {
    this.items.push(['u', cmd, flag, appid, receivers, Buffer.from(body)]);
  }
  publishEach(cmd: number, flag: number, appid: number, receivers: number[], msgids: number[], body: Buffer): void {
    this.items.push(['e', cmd, flag, appid, receivers, msgids, Buffer.from(body)]);
  }
  drained(shard: number): void { this.items.push(['d', shard]); }
}

test('Channel items round-trip; a PUBLISH item is a whole router frame both decoders read alike', () => {
  const w = new PackedWriter();
  for (const id of IDS) writeTransition(w, 3, id, -id);
  for (const id of IDS) {
    for (const body of [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(MAX_BODY - 100, 1)]) {
      writePublish(w, Cmd.PUBLISH_ROOM, id, -id, 77, 0, outFrame(Cmd.ROOM_IM, 0, body));
    }
  }
  writePush(w, 5, IDS, outFrame(Cmd.IM, Flag.PUSH, Buffer.from('p')));
  writePush(w, 5, [], outFrame(Cmd.SYSTEM, Flag.PUSH, Buffer.alloc(0)));
  writePublishEach(w, -9, IDS, IDS.map((id) => -id), outFrame(Cmd.GROUP_IM, Flag.PUSH, Buffer.alloc(MAX_BODY, 2)));
  writeDrained(w, 3);
  const r = new Recorder();
  readChannelItems(reread(w), r);
  const transitions = r.items.filter((i) => (i as unknown[])[0] === 't');
  assert.equal(transitions, IDS.map((id) => ['t', 3, id, -id]));
  const publishes = r.items.filter((i) => (i as unknown[])[0] === 'p') as [string, number, number, Buffer][];
  assert.is(publishes.length, IDS.length * 3);
  for (const [, routerCmd, receiver, bytes] of publishes) {
    assert.is(routerCmd, Cmd.PUBLISH_ROOM);
    const f = parseFrame(bytes) as Frame;
    assert.not.instance(f, ProtocolError);
    assert.is(f.cmd, Cmd.PUBLISH_ROOM);
    const full = codecs.PUBLISH_ROOM.forVersion(0).decode(f.body, 0, f.body.length);
    const h = readRouteHeader(f.body);
    assert.not.instance(full, ProtocolError);
    assert.not.instance(h, ProtocolError);
    if (full instanceof ProtocolError || h instanceof ProtocolError) return;
    assert.equal([h.appid, h.receiver, h.msgid], [full.appid, full.receiver, full.msgid]);
    assert.equal([h.appid, h.receiver, h.msgid], [-receiver, receiver, 77]);
    assert.ok(f.body.subarray(h.frameStart, h.frameEnd).equals(full.message));
    const inner = parseFrame(full.message) as Frame;
    assert.equal([inner.cmd, inner.version], [Cmd.ROOM_IM, 2]);
  }
  const pushes = r.items.filter((i) => (i as unknown[])[0] === 'u');
  assert.equal(pushes, [['u', Cmd.IM, Flag.PUSH, 5, IDS, Buffer.from('p')], ['u', Cmd.SYSTEM, Flag.PUSH, 5, [], Buffer.alloc(0)]]);
  const each = r.items.filter((i) => (i as unknown[])[0] === 'e');
  assert.equal(each, [['e', Cmd.GROUP_IM, Flag.PUSH, -9, IDS, IDS.map((id) => -id), Buffer.alloc(MAX_BODY, 2)]]);
  assert.equal(r.items.at(-1), ['d', 3], 'DRAINED comes last, as written');
});

test('routeMessage builds the router frame the full decoder reads, its length field unsigned-safe', () => {
  for (const id of IDS) {
    for (const n of [0, 1, ROUTED_MAX_BODY]) {
      const inner = framed(outFrame(Cmd.GROUP_IM, Flag.PUSH, Buffer.alloc(n, 3)), 2);
      const b = routeMessage(Cmd.PUBLISH, id, -id, 2 ** 40 + 1, inner, 1.7e18);
      const f = parseFrame(b) as Frame;
      assert.not.instance(f, ProtocolError);
      assert.ok(f.body.length <= MAX_BODY, 'within the protocol\'s frame limit');
      const m = codecs.PUBLISH.forVersion(0).decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return assert.unreachable(m.message);
      assert.equal([f.cmd, m.appid, m.receiver, m.msgid, m.device_id], [Cmd.PUBLISH, id, -id, 2 ** 40 + 1, 0]);
      assert.ok(m.message.equals(inner));
      assert.ok(Math.abs(Number(m.timestamp) - 1.7e18) < 1e4);
    }
  }
});

test('the route header reader refuses what the full decoder refuses', () => {
  const ok = codecs.PUBLISH.forVersion(0);
  for (let n = 0; n < 60; n++) {
    const b = Buffer.alloc(n, 0);
    if (n >= 42) b.writeInt16BE(n - 42, 40);
    const full = ok.decode(b, 0, b.length);
    const h = readRouteHeader(b);
    assert.is(h instanceof ProtocolError, full instanceof ProtocolError, `${n} bytes`);
  }
  const bad = Buffer.alloc(50);
  bad.writeInt16BE(9, 40);
  assert.instance(readRouteHeader(bad), ProtocolError, 'embedded length past the end');
  bad.writeInt16BE(-1, 40);
  assert.instance(readRouteHeader(bad), ProtocolError, 'negative embedded length');
});

test('PortBatcher: many items in one turn arrive as one message per destination', async () => {
  const a = new MessageChannel();
  const b = new MessageChannel();
  const batcher = new PortBatcher(Outlet.PEERS, [a.port1, undefined, b.port1]);
  assert.ok(batcher.has(0));
  assert.not.ok(batcher.has(1));
  for (let i = 0; i < 100; i++) {
    writeHandoff(batcher.to(0), HandoffKind.USER, 1, i, outFrame(Cmd.RT, 0, Buffer.from([i])));
    if (i % 2 === 0) writeHandoff(batcher.to(2), HandoffKind.ROOM, 1, i, outFrame(Cmd.ROOM_IM, 0, Buffer.alloc(0)));
  }
  const [abA] = await once(a.port2, 'message') as [ArrayBuffer];
  const [abB] = await once(b.port2, 'message') as [ArrayBuffer];
  const ids = (ab: ArrayBuffer) => {
    const out: number[] = [];
    readHandoffs(new PackedReader(ab), { handoff: (_k, _a, id) => out.push(id) });
    return out;
  };
  assert.equal(ids(abA), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(ids(abB), Array.from({ length: 50 }, (_, i) => 2 * i));
  // Nothing more was posted: a PING-like fence through the same ports.
  a.port1.postMessage('fence');
  const [next] = await once(a.port2, 'message') as [unknown];
  assert.is(next, 'fence');
  for (const ch of [a, b]) { ch.port1.close(); ch.port2.close(); }
});

test('an unknown Channel item type is an error, not read as another item', () => {
  const w = new PackedWriter();
  writeTransition(w, 1, 7, 42);
  w.head(99, 0, 0, 0).i64(7);
  const seen: number[] = [];
  const v = { transition: (_t: number, _a: number, id: number) => seen.push(id) } as unknown as ChannelVisitor;
  assert.throws(() => readChannelItems(reread(w), v), /unknown Channel item type 99/);
  assert.equal(seen, [42], 'what came before it was read');
});

test.run();
