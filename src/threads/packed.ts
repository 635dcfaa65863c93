import { readI64, writeI64 } from '../protocol/index.ts';

/**
 * The one packed format threads exchange: items appended to a growable buffer, taken out as
 * a standalone ArrayBuffer that is transferred (not copied) with a single postMessage.
 * Numbers are big-endian like the wire; int64 values are plain numbers (see int64.ts).
 */
export class PackedWriter {
  #b = Buffer.allocUnsafe(4096);
  #n = 0;

  get length(): number {
    return this.#n;
  }

  /** Four bytes: an item's type and three small fields. */
  head(a: number, b: number, c: number, d: number): this {
    this.#room(4);
    const p = this.#n;
    this.#b[p] = a;
    this.#b[p + 1] = b;
    this.#b[p + 2] = c;
    this.#b[p + 3] = d;
    this.#n = p + 4;
    return this;
  }

  u32(v: number): this {
    this.#room(4);
    this.#b.writeUInt32BE(v >>> 0, this.#n);
    this.#n += 4;
    return this;
  }

  i64(v: number): this {
    this.#room(8);
    writeI64(this.#b, this.#n, v);
    this.#n += 8;
    return this;
  }

  /** u32 length, then the bytes. */
  bytes(v: Uint8Array): this {
    this.u32(v.length);
    return this.raw(v);
  }

  raw(v: Uint8Array): this {
    this.#room(v.length);
    this.#b.set(v, this.#n);
    this.#n += v.length;
    return this;
  }

  /** Room for `k` bytes written directly at `at()` (then `advance(k)`). */
  reserve(k: number): Buffer {
    this.#room(k);
    return this.#b;
  }

  at(): number {
    return this.#n;
  }

  advance(k: number): void {
    this.#n += k;
  }

  /** What was written, as its own ArrayBuffer ready to transfer; null when empty. */
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
}

/** Reads what a PackedWriter wrote, in the same order. Byte fields are views into the batch. */
export class PackedReader {
  readonly #b: Buffer;
  #p = 0;

  constructor(ab: ArrayBuffer) {
    this.#b = Buffer.from(ab);
  }

  get more(): boolean {
    return this.#p < this.#b.length;
  }

  u8(): number {
    return this.#b[this.#p++]!;
  }

  u32(): number {
    const v = this.#b.readUInt32BE(this.#p);
    this.#p += 4;
    return v;
  }

  i64(): number {
    const v = readI64(this.#b, this.#p);
    this.#p += 8;
    return v;
  }

  bytes(): Buffer {
    const n = this.u32();
    const v = this.#b.subarray(this.#p, this.#p + n);
    this.#p += n;
    return v;
  }
}
