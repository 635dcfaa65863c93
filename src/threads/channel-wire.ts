/**
 * What shards send the Channel thread, packed per shard per turn (see PortBatcher). Items:
 *   TRANSITION: u8 type | u8 transition | u16 0 | i64 appid | i64 id
 *   PUBLISH:    u8 type | u8 router cmd | u16 0 | i64 receiver | u32 frame length | frame
 *               (the whole router frame, made here: the Channel thread forwards it untouched;
 *               also a PUSH to one receiver, which goes to that receiver's router)
 *   PUSH:       u8 type | u8 0 | u8 inner cmd | u8 inner flag | i64 appid | u32 count | count × i64
 *               | u32 body length | body
 *   PUBLISH_EACH: u8 type | u8 0 | u8 inner cmd | u8 inner flag | i64 appid | u32 count
 *               | count × (i64 receiver, i64 msgid) | u32 body length | body
 *               (one message to many users, each its own PUBLISH: the body crosses once, and
 *               the Channel builds only the route messages its links can take)
 *   DRAINED:    u8 type | u8 0 | u16 0 | i64 shard
 *               (the shard closed its connections: everything it had to say came before)
 */
import { Cmd, HEADER_SIZE, MAX_BODY, PROTOCOL_VERSION, Route, writeHeader, writeI64, type OutFrame } from '../protocol/index.ts';
import type { PackedReader, PackedWriter } from './packed.ts';

const ItemType = { TRANSITION: 1, PUBLISH: 2, PUSH: 3, PUBLISH_EACH: 4, DRAINED: 5 } as const;

export interface ChannelVisitor {
  transition(t: number, appid: number, id: number): void;
  /** `frame` is the whole PUBLISH / PUBLISH_ROOM / PUBLISH_GROUP frame, seq 0. */
  publish(routerCmd: number, receiver: number, frame: Buffer): void;
  push(cmd: number, flag: number, appid: number, receivers: number[], body: Buffer): void;
  /** PUBLISH of one message to each receiver, with its own msgid (the same index). */
  publishEach(cmd: number, flag: number, appid: number, receivers: number[], msgids: number[], body: Buffer): void;
  /** The shard has closed its connections; nothing more will come from it. */
  drained(shard: number): void;
}

export function writeTransition(w: PackedWriter, t: number, appid: number, id: number): void {
  w.head(ItemType.TRANSITION, t, 0, 0).i64(appid).i64(id);
}

/**
 * Writes the router frame itself (route message with the client frame embedded), so that
 * the Channel thread only picks the router and copies bytes: measured with
 * bench/cluster.ts, decoding and re-encoding there cost the sending server a third of
 * its Channel thread.
 */
export function writePublish(w: PackedWriter, routerCmd: number, appid: number, receiver: number, msgid: number, deviceId: number, f: OutFrame): void {
  const n = routerFrame(w, routerCmd, receiver, Route.LENGTH, f);
  routeFields(w.reserve(n), w.at() + HEADER_SIZE, appid, receiver, msgid, deviceId, nowNs());
  w.advance(n);
}

/** A whole route-message router frame around `inner` (a framed client message), seq 0. */
export function routeMessage(routerCmd: number, appid: number, receiver: number, msgid: number, inner: Buffer, timestampNs: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE + Route.FRAME + inner.length);
  writeHeader(b, 0, Route.FRAME + inner.length, 0, routerCmd, 0, 0);
  routeFields(b, HEADER_SIZE, appid, receiver, msgid, 0, timestampNs);
  b.writeInt16BE(inner.length, HEADER_SIZE + Route.LENGTH);
  inner.copy(b, HEADER_SIZE + Route.FRAME);
  return b;
}

function routeFields(b: Buffer, r: number, appid: number, receiver: number, msgid: number, deviceId: number, timestampNs: number): void {
  writeI64(b, r + Route.APPID, appid);
  writeI64(b, r + Route.RECEIVER, receiver);
  writeI64(b, r + Route.MSGID, msgid);
  writeI64(b, r + Route.DEVICE_ID, deviceId);
  writeI64(b, r + Route.TIMESTAMP, timestampNs);
}

/**
 * A PUSH to one receiver (a peer message to a user not online here: one each) as the whole
 * router frame, forwarded like a publish: the Channel thread neither re-frames the message
 * nor groups receivers by router for it. Body: i64 appid, u16 count (1), i64 receiver, then
 * the client frame behind its i16 length.
 */
export function writePushTo(w: PackedWriter, appid: number, receiver: number, f: OutFrame): void {
  const n = routerFrame(w, Cmd.PUSH, receiver, 18, f);
  const b = w.reserve(n);
  const r = w.at() + HEADER_SIZE;
  writeI64(b, r, appid);
  b.writeUInt16BE(1, r + 8);
  writeI64(b, r + 10, receiver);
  w.advance(n);
}

/**
 * Starts a PUBLISH item holding a whole router frame: the item's head, the frame's header and,
 * after `fields` bytes of body the caller writes (at at() + HEADER_SIZE, then advance by the
 * returned length), the client frame `f` behind its i16 length.
 */
function routerFrame(w: PackedWriter, routerCmd: number, receiver: number, fields: number, f: OutFrame): number {
  const inner = HEADER_SIZE + f.body.length;
  const n = HEADER_SIZE + fields + 2 + inner;
  // Checked before the item is begun: a half-written item would garble the whole batch.
  if (n - HEADER_SIZE > MAX_BODY) throw new RangeError(`a ${f.body.length}-byte body does not fit a route message (IM_MAX_BODY)`);
  w.head(ItemType.PUBLISH, routerCmd, 0, 0).i64(receiver).u32(n);
  const b = w.reserve(n);
  const p = w.at();
  writeHeader(b, p, n - HEADER_SIZE, 0, routerCmd, 0, 0);
  const q = p + HEADER_SIZE + fields;
  b.writeInt16BE(inner, q);
  writeHeader(b, q + 2, f.body.length, 0, f.cmd, PROTOCOL_VERSION, f.flag);
  f.body.copy(b, q + 2 + HEADER_SIZE);
  return n;
}

export function writeDrained(w: PackedWriter, shard: number): void {
  w.head(ItemType.DRAINED, 0, 0, 0).i64(shard);
}

export function writePush(w: PackedWriter, appid: number, receivers: readonly number[], f: OutFrame): void {
  w.head(ItemType.PUSH, 0, f.cmd, f.flag).i64(appid).u32(receivers.length);
  for (const r of receivers) w.i64(r);
  w.bytes(f.body);
}

export function writePublishEach(w: PackedWriter, appid: number, receivers: readonly number[], msgids: readonly number[], f: OutFrame): void {
  w.head(ItemType.PUBLISH_EACH, 0, f.cmd, f.flag).i64(appid).u32(receivers.length);
  for (let i = 0; i < receivers.length; i++) w.i64(receivers[i]!).i64(msgids[i]!);
  w.bytes(f.body);
}

export function readChannelItems(r: PackedReader, v: ChannelVisitor): void {
  while (r.more) {
    const type = r.u8();
    const a = r.u8();
    const b = r.u8();
    const c = r.u8();
    if (type === ItemType.TRANSITION) {
      v.transition(a, r.i64(), r.i64());
    } else if (type === ItemType.PUBLISH) {
      const receiver = r.i64();
      v.publish(a, receiver, r.bytes());
    } else if (type === ItemType.PUSH) {
      const appid = r.i64();
      const receivers = new Array<number>(r.u32());
      for (let i = 0; i < receivers.length; i++) receivers[i] = r.i64();
      v.push(b, c, appid, receivers, r.bytes());
    } else if (type === ItemType.PUBLISH_EACH) {
      const appid = r.i64();
      const n = r.u32();
      const receivers = new Array<number>(n);
      const msgids = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        receivers[i] = r.i64();
        msgids[i] = r.i64();
      }
      v.publishEach(b, c, appid, receivers, msgids, r.bytes());
    } else if (type === ItemType.DRAINED) {
      v.drained(r.i64());
    } else {
      // Nothing after it can be read: the batch was written by a writer this reader does not know.
      throw new RangeError(`unknown Channel item type ${type}`);
    }
  }
}

/**
 * Wall-clock nanoseconds, comparable between processes on one host (route-message
 * timestamps), as a double: about 256 ns of precision at today's values, plenty for
 * latency, and no BigInt per message.
 */
export function nowNs(): number {
  return (performance.timeOrigin + performance.now()) * 1e6;
}
