/**
 * Where a shard builds the bytes of its connections' writes. A stream socket that takes a
 * write whole (the kernel accepted every byte before write() returned) keeps no reference to
 * it, so one slab serves write after write: fanning a message out to thousands of receivers
 * costs no allocation per receiver, and no garbage for V8 to collect. A write the socket
 * keeps (partly written, still counted in its writableLength) pins the slab: the slab is
 * carved on past it and, once full, left to the collector and a new one made, never written
 * over while a socket may still be sending from it.
 *
 * Measured (bench/RESULTS.md, "Memory"): with the queue slots kept per connection, peak RSS
 * during fan-out to 1,000 receivers fell from ~190 to ~120 MiB; a 64 KiB and a 256 KiB slab
 * read the same.
 */
export class WriteArena {
  readonly slabSize: number;
  #slab: Buffer;
  #used = 0;
  #pinned = false;
  /** Slabs made after one was pinned (for tests and stats). */
  replaced = 0;

  constructor(slabSize = 64 * 1024) {
    this.slabSize = slabSize;
    this.#slab = Buffer.allocUnsafeSlow(slabSize);
  }

  /** `n` bytes to fill and write; larger than a slab, a buffer of their own. */
  take(n: number): Buffer {
    if (n > this.slabSize) return Buffer.allocUnsafe(n);
    if (n > this.slabSize - this.#used) {
      if (this.#pinned) {
        this.#slab = Buffer.allocUnsafeSlow(this.slabSize);
        this.#pinned = false;
        this.replaced++;
      }
      this.#used = 0;
    }
    const b = this.#slab.subarray(this.#used, this.#used + n);
    this.#used += n;
    return b;
  }

  /** After writing `b` (from take): `kept` when the socket still holds it. */
  written(b: Buffer, kept: boolean): void {
    if (kept && b.buffer === this.#slab.buffer) this.#pinned = true;
  }
}
