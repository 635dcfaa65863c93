/**
 * Cross-shard hand-off: frames one shard asks another to deliver to its own connections,
 * packed into one ArrayBuffer per destination per event-loop turn and transferred (not
 * copied) with a single postMessage. Item layout, 24 bytes + body:
 *   u8 kind (0 user, 1 room, 2 group) | u8 cmd | u8 flag | u8 0 | i64 appid | i64 id | u32 body length | body
 */
/** The subscriber table's kinds, plus GROUP: a group message every shard resolves itself. */
export const HandoffKind = { USER: 0, ROOM: 1, GROUP: 2 } as const;

const ITEM_HEADER = 24;
const TWO_32 = 4294967296;

export class HandoffWriter {
  #buf = Buffer.allocUnsafe(4096);
  #len = 0;
  count = 0;

  add(kind: number, cmd: number, flag: number, appid: number, id: number, body: Buffer): void {
    const need = this.#len + ITEM_HEADER + body.length;
    if (need > this.#buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
      this.#buf.copy(next, 0, 0, this.#len);
      this.#buf = next;
    }
    const b = this.#buf;
    let p = this.#len;
    b[p] = kind;
    b[p + 1] = cmd;
    b[p + 2] = flag;
    b[p + 3] = 0;
    b.writeInt32BE(Math.floor(appid / TWO_32), p + 4);
    b.writeUInt32BE(appid - Math.floor(appid / TWO_32) * TWO_32, p + 8);
    b.writeInt32BE(Math.floor(id / TWO_32), p + 12);
    b.writeUInt32BE(id - Math.floor(id / TWO_32) * TWO_32, p + 16);
    b.writeUInt32BE(body.length, p + 20);
    p += ITEM_HEADER;
    body.copy(b, p);
    this.#len = p + body.length;
    this.count++;
  }

  /** The packed batch as a standalone ArrayBuffer (ready to transfer), or null when empty. */
  take(): ArrayBuffer | null {
    if (this.#len === 0) return null;
    const out = new ArrayBuffer(this.#len);
    new Uint8Array(out).set(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    this.count = 0;
    return out;
  }
}

export function readHandoff(
  ab: ArrayBuffer,
  visit: (kind: number, cmd: number, flag: number, appid: number, id: number, body: Buffer) => void,
): void {
  const b = Buffer.from(ab);
  for (let p = 0; p + ITEM_HEADER <= b.length;) {
    const kind = b[p]!;
    const cmd = b[p + 1]!;
    const flag = b[p + 2]!;
    const appid = b.readInt32BE(p + 4) * TWO_32 + b.readUInt32BE(p + 8);
    const id = b.readInt32BE(p + 12) * TWO_32 + b.readUInt32BE(p + 16);
    const n = b.readUInt32BE(p + 20);
    p += ITEM_HEADER;
    visit(kind, cmd, flag, appid, id, b.subarray(p, p + n));
    p += n;
  }
}
