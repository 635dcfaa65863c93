/**
 * What shards send the Channel thread, packed into one ArrayBuffer per shard per turn and
 * transferred with a single postMessage. Items (big-endian):
 *   TRANSITION: u8 type | u8 transition | u16 0 | i64 appid | i64 id
 *   PUBLISH:    u8 type | u8 router cmd | u16 0 | i64 receiver | u32 frame length | frame
 *               (the whole router frame, made here: the Channel thread forwards it untouched)
 *   PUSH:       u8 type | u8 0 | u8 inner cmd | u8 inner flag | i64 appid | u32 count | count × i64
 *               | u32 body length | body
 */
import { HEADER_SIZE, PROTOCOL_VERSION, writeHeader } from '../protocol/index.ts';

const TWO_32 = 4294967296;

export const ItemType = { TRANSITION: 1, PUBLISH: 2, PUSH: 3 } as const;

export interface ChannelVisitor {
  transition(t: number, appid: number, id: number): void;
  /** `frame` is the whole PUBLISH / PUBLISH_ROOM / PUBLISH_GROUP frame, seq 0. */
  publish(routerCmd: number, receiver: number, frame: Buffer): void;
  push(cmd: number, flag: number, appid: number, receivers: number[], body: Buffer): void;
}

export class ChannelWriter {
  #b = Buffer.allocUnsafe(4096);
  #n = 0;

  get empty(): boolean {
    return this.#n === 0;
  }

  transition(t: number, appid: number, id: number): void {
    this.#room(20);
    this.#u8(ItemType.TRANSITION, t, 0, 0);
    this.#i64(appid);
    this.#i64(id);
  }

  /**
   * Writes the router frame itself (route message with the client frame embedded), so that
   * the Channel thread only picks the router and copies bytes: measured with
   * bench/cluster.ts, decoding and re-encoding there cost the sending server a third of
   * its Channel thread.
   */
  publish(routerCmd: number, cmd: number, flag: number, appid: number, receiver: number, deviceId: number, body: Buffer): void {
    const inner = HEADER_SIZE + body.length;
    const frame = HEADER_SIZE + ROUTE_FIXED + inner;
    this.#room(16 + frame);
    this.#u8(ItemType.PUBLISH, routerCmd, 0, 0);
    this.#i64(receiver);
    this.#b.writeUInt32BE(frame, this.#n);
    this.#n += 4;
    const b = this.#b;
    writeHeader(b, this.#n, frame - HEADER_SIZE, 0, routerCmd, 0, 0);
    this.#n += HEADER_SIZE;
    this.#i64(appid);
    this.#i64(receiver);
    this.#i64(0); // msgid
    this.#i64(deviceId);
    writeNowNs(b, this.#n);
    this.#n += 8;
    b.writeInt16BE(inner, this.#n);
    this.#n += 2;
    writeHeader(b, this.#n, body.length, 0, cmd, PROTOCOL_VERSION, flag);
    this.#n += HEADER_SIZE;
    body.copy(b, this.#n);
    this.#n += body.length;
  }

  push(cmd: number, flag: number, appid: number, receivers: readonly number[], body: Buffer): void {
    this.#room(20 + 8 * receivers.length + body.length);
    this.#u8(ItemType.PUSH, 0, cmd, flag);
    this.#i64(appid);
    this.#b.writeUInt32BE(receivers.length, this.#n);
    this.#n += 4;
    for (const r of receivers) this.#i64(r);
    this.#bytes(body);
  }

  take(): ArrayBuffer | null {
    if (this.#n === 0) return null;
    const out = new ArrayBuffer(this.#n);
    new Uint8Array(out).set(this.#b.subarray(0, this.#n));
    this.#n = 0;
    return out;
  }

  #room(k: number): void {
    if (this.#n + k <= this.#b.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#n + k, this.#b.length * 2));
    this.#b.copy(next, 0, 0, this.#n);
    this.#b = next;
  }

  #u8(a: number, b: number, c: number, d: number): void {
    const p = this.#n;
    this.#b[p] = a;
    this.#b[p + 1] = b;
    this.#b[p + 2] = c;
    this.#b[p + 3] = d;
    this.#n += 4;
  }

  #i64(v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.#b.writeInt32BE(hi, this.#n);
    this.#b.writeUInt32BE(v - hi * TWO_32, this.#n + 4);
    this.#n += 8;
  }

  #bytes(body: Buffer): void {
    this.#b.writeUInt32BE(body.length, this.#n);
    this.#n += 4;
    body.copy(this.#b, this.#n);
    this.#n += body.length;
  }
}

export function readChannelItems(ab: ArrayBuffer, v: ChannelVisitor): void {
  const b = Buffer.from(ab);
  const i64 = (p: number) => b.readInt32BE(p) * TWO_32 + b.readUInt32BE(p + 4);
  for (let p = 0; p < b.length;) {
    const type = b[p]!;
    if (type === ItemType.TRANSITION) {
      v.transition(b[p + 1]!, i64(p + 4), i64(p + 12));
      p += 20;
    } else if (type === ItemType.PUBLISH) {
      const n = b.readUInt32BE(p + 12);
      v.publish(b[p + 1]!, i64(p + 4), b.subarray(p + 16, p + 16 + n));
      p += 16 + n;
    } else {
      const count = b.readUInt32BE(p + 12);
      const receivers = new Array<number>(count);
      for (let i = 0; i < count; i++) receivers[i] = i64(p + 16 + 8 * i);
      const at = p + 16 + 8 * count;
      const n = b.readUInt32BE(at);
      v.push(b[p + 2]!, b[p + 3]!, i64(p + 4), receivers, b.subarray(at + 4, at + 4 + n));
      p = at + 4 + n;
    }
  }
}

/** Route message: appid, receiver, msgid, device id, timestamp (5 × int64), int16 length. */
const ROUTE_FIXED = 42;

/**
 * Wall-clock nanoseconds, comparable between processes on one host (route-message
 * timestamps), as a double: about 256 ns of precision at today's values, plenty for
 * latency, and no BigInt per message.
 */
export function nowNs(): number {
  return (performance.timeOrigin + performance.now()) * 1e6;
}

export function writeNowNs(b: Buffer, p: number): void {
  const ns = nowNs();
  const hi = Math.floor(ns / TWO_32);
  b.writeUInt32BE(hi, p);
  b.writeUInt32BE(Math.floor(ns - hi * TWO_32), p + 4);
}

export function readNs(b: Buffer, p: number): number {
  return b.readInt32BE(p) * TWO_32 + b.readUInt32BE(p + 4);
}
