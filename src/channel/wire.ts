/**
 * What shards send the Channel thread, packed into one ArrayBuffer per shard per turn and
 * transferred with a single postMessage. Items (big-endian):
 *   TRANSITION: u8 type | u8 transition | u16 0 | i64 appid | i64 id
 *   PUBLISH:    u8 type | u8 router cmd | u8 inner cmd | u8 inner flag | i64 appid | i64 receiver
 *               | i64 device id | i64 timestamp ns | u32 body length | body
 *   PUSH:       u8 type | u8 0 | u8 inner cmd | u8 inner flag | i64 appid | u32 count | count × i64
 *               | u32 body length | body
 */
const TWO_32 = 4294967296;

export const ItemType = { TRANSITION: 1, PUBLISH: 2, PUSH: 3 } as const;

export interface ChannelVisitor {
  transition(t: number, appid: number, id: number): void;
  publish(routerCmd: number, cmd: number, flag: number, appid: number, receiver: number, deviceId: number, ts: bigint, body: Buffer): void;
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

  publish(routerCmd: number, cmd: number, flag: number, appid: number, receiver: number, deviceId: number, ts: bigint, body: Buffer): void {
    this.#room(40 + body.length);
    this.#u8(ItemType.PUBLISH, routerCmd, cmd, flag);
    this.#i64(appid);
    this.#i64(receiver);
    this.#i64(deviceId);
    this.#b.writeBigInt64BE(ts, this.#n);
    this.#n += 8;
    this.#bytes(body);
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
      const n = b.readUInt32BE(p + 36);
      v.publish(b[p + 1]!, b[p + 2]!, b[p + 3]!, i64(p + 4), i64(p + 12), i64(p + 20), b.readBigInt64BE(p + 28), b.subarray(p + 40, p + 40 + n));
      p += 40 + n;
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

/** Wall-clock nanoseconds, comparable between processes on one host (route-message timestamps). */
export function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}
