import type { OutFrame } from '../protocol/index.ts';

/** Slots a queue keeps after a burst whatever its next turn needs, and at most (2 KiB of slots). */
const KEEP = 64;
const KEEP_MAX = 256;

/**
 * A connection's frames waiting to be written, oldest first: a ring, so that dropping the
 * oldest frame of a full queue (what a client that does not read gets, frame after frame,
 * for as long as it is flooded) costs one step, not a shift of every frame behind it. The
 * slots are kept from turn to turn (cleared), so that a connection getting a frame costs no
 * allocation once it has had a burst.
 */
export class FrameQueue {
  #slots: (OutFrame | undefined)[] = [];
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(f: OutFrame): void {
    if (this.#length === this.#slots.length) this.#grow();
    this.#slots[(this.#head + this.#length++) & (this.#slots.length - 1)] = f;
  }

  /** The `i`th frame, 0 the oldest. */
  at(i: number): OutFrame {
    return this.#slots[(this.#head + i) & (this.#slots.length - 1)]!;
  }

  /** Takes out the `i`th frame; the others keep their order. */
  removeAt(i: number): OutFrame {
    const s = this.#slots;
    const mask = s.length - 1;
    const h = this.#head;
    const f = s[(h + i) & mask]!;
    for (let j = i; j > 0; j--) s[(h + j) & mask] = s[(h + j - 1) & mask];
    s[h] = undefined;
    this.#head = (h + 1) & mask;
    this.#length--;
    return f;
  }

  /** Empties it once its frames are written: slots for a burst far larger than this one, or past KEEP_MAX, go. */
  clear(): void {
    const n = this.#length;
    const cap = this.#slots.length;
    if (cap > KEEP_MAX || (cap > KEEP && n * 4 < cap)) this.#slots = [];
    else for (let i = 0; i < n; i++) this.#slots[(this.#head + i) & (cap - 1)] = undefined;
    this.#head = 0;
    this.#length = 0;
  }

  /** Empties it and lets its slots go (the connection is closing). */
  release(): void {
    this.#slots = [];
    this.#head = 0;
    this.#length = 0;
  }

  /** Twice the slots (a power of two, so that a position is a mask away), the frames in order from 0. */
  #grow(): void {
    const old = this.#slots;
    const cap = Math.max(4, old.length * 2);
    const slots = new Array<OutFrame | undefined>(cap).fill(undefined);
    for (let i = 0; i < this.#length; i++) slots[i] = old[(this.#head + i) & (old.length - 1)];
    this.#slots = slots;
    this.#head = 0;
  }
}
