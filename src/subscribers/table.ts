import { hiOf, joinI64, loOf } from '../protocol/int64.ts';
import {
  BUSY, EMPTY, FIRST_LEVEL_SLOTS, GEN, HEADER_WORDS, H_CAPACITY, H_LEVELS, H_LEVEL_LIVE, H_LIVE, H_LOCK, H_MAGIC,
  H_MAX_LEVELS, H_S0, KIND_BIT, Kind, LIVE, MAGIC, MAX_SHARDS, PIN, PINS_MASK, SLOTS_PER_KEY, SLOTS_PER_KEY_BEFORE_GROWTH, SLOT_WORDS, STATE_MASK,
  S_APP_HI, S_APP_LO, S_COUNT, S_CTL, S_ID_HI, S_ID_LO, S_MASK_HI, S_MASK_LO, TOMB,
} from './layout.ts';

export { Kind } from './layout.ts';

export const SubscriberTableErrorCode = {
  /** IM_SUBSCRIBER_CAPACITY keys are live: a new key cannot be added. */
  FULL: 'ERR_TABLE_FULL',
  /** The key's count (or its online half) is at 65535. */
  COUNT_LIMIT: 'ERR_COUNT_LIMIT',
  /** A removal for a key or a half that holds nothing: a caller's bookkeeping bug. */
  NOT_FOUND: 'ERR_NOT_SUBSCRIBED',
} as const;
export type SubscriberTableErrorCode = (typeof SubscriberTableErrorCode)[keyof typeof SubscriberTableErrorCode];

export class SubscriberTableError extends Error {
  override readonly name = 'SubscriberTableError';
  readonly code: SubscriberTableErrorCode;
  constructor(code: SubscriberTableErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const ONLINE_ONE = 0x10000;

/**
 * The process-wide subscriber table: per (kind, appid, id) the packed connection count and
 * the mask of shards holding the key, in a SharedArrayBuffer that every thread maps.
 *
 * Concurrency: count and mask updates are lock-free. A thread first pins the key's slot
 * with a compare-exchange on its CTL word, updates, then unpins; the last to unpin a slot
 * whose count and mask are zero turns it into a tombstone, and the generation bits in CTL
 * make that compare-exchange fail if anyone touched the slot since. Only inserting a new key
 * and turning tombstones back into empty slots take the table's spin lock (held for one
 * probe), which is what rules out two threads inserting the same key twice.
 * No operation ever blocks: the lock is a spin on Atomics.compareExchange.
 *
 * Growth: the table starts with one level of slots and adds a level, as large as all the
 * levels before it, when every level holds a quarter of its slots (under the lock; the buffer grows first,
 * then H_LEVELS says so). A key never moves: lookups probe each level, the newest (largest)
 * first. So memory follows the live keys instead of IM_SUBSCRIBER_CAPACITY, which bounds it.
 */
export class SubscriberTable {
  readonly buffer: SharedArrayBuffer;
  #w: Int32Array;
  /** Levels this thread's view covers (H_LEVELS when it was last read). */
  #levels: number;
  readonly #s0: number;
  readonly #s0Shift: number;

  /** `firstLevel`: slots of level 0 (a power of two; tests use small ones to see many levels). */
  static create(capacity: number, firstLevel = FIRST_LEVEL_SLOTS): SubscriberTable {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 26) {
      throw new RangeError('capacity must be an integer between 1 and 67108864');
    }
    let slots = 1;
    while (slots < capacity * SLOTS_PER_KEY) slots *= 2;
    const s0 = Math.min(slots, firstLevel);
    const maxLevels = 1 + Math.log2(slots / s0);
    // Address space for every level is reserved; memory is committed level by level.
    const buffer = new SharedArrayBuffer((HEADER_WORDS + s0 * SLOT_WORDS) * 4, { maxByteLength: (HEADER_WORDS + slots * SLOT_WORDS) * 4 });
    const w = new Int32Array(buffer);
    w[H_CAPACITY] = capacity;
    w[H_S0] = s0;
    w[H_MAX_LEVELS] = maxLevels;
    w[H_LEVELS] = 1;
    Atomics.store(w, H_MAGIC, MAGIC);
    return new SubscriberTable(buffer);
  }

  /** Maps a table created by another thread. */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    const head = new Int32Array(buffer, 0, HEADER_WORDS);
    if (Atomics.load(head, H_MAGIC) !== MAGIC) throw new TypeError('buffer is not a subscriber table');
    this.#s0 = head[H_S0]!;
    this.#s0Shift = Math.log2(this.#s0);
    this.#levels = Atomics.load(head, H_LEVELS);
    this.#w = this.#viewOf(this.#levels);
  }

  get capacity(): number {
    return this.#w[H_CAPACITY]!;
  }

  /** Live keys right now. */
  get size(): number {
    return Atomics.load(this.#w, H_LIVE);
  }

  /** Levels in use (each as large as all before it). */
  get levels(): number {
    return Atomics.load(this.#w, H_LEVELS);
  }

  /** Bytes of shared memory it holds now (the levels in use and the header). */
  get bytes(): number {
    return this.buffer.byteLength;
  }

  /** Tombstones right now (a scan: for tests and diagnostics). */
  get tombstones(): number {
    const slots = this.#slotsIn(this.#refresh());
    let n = 0;
    for (let i = 0; i < slots; i++) {
      if ((Atomics.load(this.#w, HEADER_WORDS + i * SLOT_WORDS + S_CTL) & STATE_MASK) === TOMB) n++;
    }
    return n;
  }

  /** Slots of all the first `levels` levels. */
  #slotsIn(levels: number): number {
    return this.#s0 << (levels - 1);
  }

  #viewOf(levels: number): Int32Array {
    return new Int32Array(this.buffer, 0, HEADER_WORDS + this.#slotsIn(levels) * SLOT_WORDS);
  }

  /** Levels in use, the view extended when another thread added some. */
  #refresh(): number {
    // A plain read: a level added a moment ago may be missed by a lookup, as a key inserted
    // a moment ago may be; an insert looks again under the lock (its compare-exchange orders it).
    const levels = this.#w[H_LEVELS]!;
    if (levels !== this.#levels) {
      this.#w = this.#viewOf(levels);
      this.#levels = levels;
    }
    return levels;
  }

  /** First slot index of level k. */
  #base(k: number): number {
    return k === 0 ? 0 : this.#s0 << (k - 1);
  }

  /** Slots of level k. */
  #size(k: number): number {
    return k === 0 ? this.#s0 : this.#s0 << (k - 1);
  }

  /** The level of slot index i. */
  #levelOf(i: number): number {
    return 32 - Math.clz32(i >>> this.#s0Shift);
  }

  /**
   * Counts one more connection of (appid, uid). `firstOnShard`: the calling shard had no
   * connection of this user before (its Route says so), so its bit joins the mask.
   * Returns the packed count before the change.
   */
  addUser(appid: number, uid: number, online: boolean, shard: number, firstOnShard: boolean): number {
    return this.#change(Kind.USER, appid, uid, online ? 1 + ONLINE_ONE : 1, shard, firstOnShard ? 1 : 0);
  }

  /** The reverse of addUser; `lastOnShard` clears the shard's bit. Returns the packed count before. */
  removeUser(appid: number, uid: number, online: boolean, shard: number, lastOnShard: boolean): number {
    return this.#change(Kind.USER, appid, uid, online ? -1 - ONLINE_ONE : -1, shard, lastOnShard ? -1 : 0);
  }

  addRoomMember(appid: number, room: number, shard: number, firstOnShard: boolean): number {
    return this.#change(Kind.ROOM, appid, room, 1, shard, firstOnShard ? 1 : 0);
  }

  removeRoomMember(appid: number, room: number, shard: number, lastOnShard: boolean): number {
    return this.#change(Kind.ROOM, appid, room, -1, shard, lastOnShard ? -1 : 0);
  }

  /** The packed count of a key (0 when absent). */
  count(kind: Kind, appid: number, id: number): number {
    const s = this.#find(kind, hiOf(appid), loOf(appid), hiOf(id), loOf(id));
    return s < 0 ? 0 : Atomics.load(this.#w, s + S_COUNT) >>> 0;
  }

  isUserOnline(appid: number, uid: number): boolean {
    return this.count(Kind.USER, appid, uid) >>> 16 > 0;
  }

  /** Writes the shards holding the key into `out` (reused by the caller: no allocation); returns how many. */
  shards(kind: Kind, appid: number, id: number, out: number[]): number {
    const s = this.#find(kind, hiOf(appid), loOf(appid), hiOf(id), loOf(id));
    if (s < 0) return 0;
    const n = bitsOf(Atomics.load(this.#w, s + S_MASK_LO), 0, out, 0);
    return bitsOf(Atomics.load(this.#w, s + S_MASK_HI), 32, out, n);
    return n;
  }

  /**
   * Visits every live key with its current count. Safe while other threads write: a key
   * added or removed during the scan may or may not be visited, every other key is.
   */
  scan(visit: (kind: Kind, appid: number, id: number, count: number) => void): void {
    const slots = this.#slotsIn(this.#refresh());
    const w = this.#w;
    for (let i = 0; i < slots; i++) {
      const s = HEADER_WORDS + i * SLOT_WORDS;
      const c1 = Atomics.load(w, s + S_CTL);
      if ((c1 & STATE_MASK) !== LIVE) continue;
      const ah = w[s + S_APP_HI]!, al = w[s + S_APP_LO]!, ih = w[s + S_ID_HI]!, il = w[s + S_ID_LO]!;
      const count = Atomics.load(w, s + S_COUNT) >>> 0;
      const c2 = Atomics.load(w, s + S_CTL);
      if ((c2 & STATE_MASK) !== LIVE || (c2 & KIND_BIT) !== (c1 & KIND_BIT)) continue;
      if (ah !== w[s + S_APP_HI] || al !== w[s + S_APP_LO] || ih !== w[s + S_ID_HI] || il !== w[s + S_ID_LO]) continue;
      if (count === 0) continue;
      visit(c1 & KIND_BIT ? Kind.ROOM : Kind.USER, joinI64(ah, al), joinI64(ih, il), count);
    }
  }

  #change(kind: Kind, appid: number, id: number, delta: number, shard: number, bit: number): number {
    if (!(shard >= 0 && shard < MAX_SHARDS)) throw new RangeError(`shard must be in 0..${MAX_SHARDS - 1}`);
    const ah = hiOf(appid), al = loOf(appid), ih = hiOf(id), il = loOf(id);
    let s = this.#pin(kind, ah, al, ih, il);
    if (s < 0) {
      if (delta < 0) throw this.#notFound(kind, appid, id);
      s = this.#insert(kind, ah, al, ih, il);
    }
    // After #pin and #insert: either may have extended the view to a new level.
    const w = this.#w;
    let prev: number;
    for (;;) {
      prev = Atomics.load(w, s + S_COUNT);
      const total = prev & 0xffff;
      const online = prev >>> 16;
      if (delta > 0 && (total === 0xffff || (kind === Kind.USER && delta > 1 && online === 0xffff))) {
        this.#unpin(s);
        throw new SubscriberTableError(SubscriberTableErrorCode.COUNT_LIMIT, `count of ${kindName(kind)} ${appid}/${id} is at 65535`);
      }
      if (delta < 0 && (total === 0 || (delta < -1 && online === 0))) {
        this.#unpin(s);
        throw this.#notFound(kind, appid, id);
      }
      if (Atomics.compareExchange(w, s + S_COUNT, prev, (prev + delta) | 0) === prev) break;
    }
    if (bit !== 0) {
      const word = shard < 32 ? S_MASK_LO : S_MASK_HI;
      const b = 1 << (shard & 31);
      if (bit > 0) Atomics.or(w, s + word, b);
      else Atomics.and(w, s + word, ~b);
    }
    this.#unpin(s);
    return prev >>> 0;
  }

  #notFound(kind: Kind, appid: number, id: number): SubscriberTableError {
    return new SubscriberTableError(SubscriberTableErrorCode.NOT_FOUND, `${kindName(kind)} ${appid}/${id} has no such connection counted`);
  }

  /** The key's hash; its home in level k is base(k) + (hash & (size(k) - 1)). */
  #hash(kind: Kind, ah: number, al: number, ih: number, il: number): number {
    let h = Math.imul(il ^ kind, 0x9e3779b1);
    h = Math.imul(h ^ ih ^ (h >>> 15), 0x85ebca6b);
    h = Math.imul(h ^ al ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ ah ^ (h >>> 16), 0x27d4eb2f);
    return h ^ (h >>> 15);
  }

  #matches(s: number, c: number, kind: Kind, ah: number, al: number, ih: number, il: number): boolean {
    const w = this.#w;
    return ((c & KIND_BIT) !== 0) === (kind === Kind.ROOM)
      && w[s + S_ID_LO] === il && w[s + S_ID_HI] === ih && w[s + S_APP_LO] === al && w[s + S_APP_HI] === ah;
  }

  /** Slot offset of a live key, without pinning (reads may race with its removal). */
  #find(kind: Kind, ah: number, al: number, ih: number, il: number): number {
    const h = this.#hash(kind, ah, al, ih, il);
    for (let k = this.#refresh() - 1; k >= 0; k--) {
      if (k > 0 && Atomics.load(this.#w, H_LEVEL_LIVE + k) === 0) continue;
      const s = this.#findIn(k, h, kind, ah, al, ih, il);
      if (s >= 0) return s;
    }
    return -1;
  }

  #findIn(k: number, h: number, kind: Kind, ah: number, al: number, ih: number, il: number): number {
    const w = this.#w;
    const base = this.#base(k), mask = this.#size(k) - 1;
    for (let i = h & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
      const s = HEADER_WORDS + (base + i) * SLOT_WORDS;
      let c = Atomics.load(w, s + S_CTL);
      while ((c & STATE_MASK) === BUSY) { Atomics.pause(); c = Atomics.load(w, s + S_CTL); }
      const state = c & STATE_MASK;
      if (state === EMPTY) return -1;
      if (state === LIVE && this.#matches(s, c, kind, ah, al, ih, il)) return s;
    }
    return -1;
  }

  /** Finds and pins a live key; -1 when absent. */
  #pin(kind: Kind, ah: number, al: number, ih: number, il: number): number {
    const h = this.#hash(kind, ah, al, ih, il);
    for (let k = this.#refresh() - 1; k >= 0; k--) {
      if (k > 0 && Atomics.load(this.#w, H_LEVEL_LIVE + k) === 0) continue;
      const s = this.#pinIn(k, h, kind, ah, al, ih, il);
      if (s >= 0) return s;
    }
    return -1;
  }

  #pinIn(k: number, h: number, kind: Kind, ah: number, al: number, ih: number, il: number): number {
    const w = this.#w;
    const base = this.#base(k), mask = this.#size(k) - 1;
    for (let i = h & mask, n = 0; n <= mask; n++) {
      const s = HEADER_WORDS + (base + i) * SLOT_WORDS;
      const c = Atomics.load(w, s + S_CTL);
      const state = c & STATE_MASK;
      if (state === BUSY) { Atomics.pause(); n--; continue; }
      if (state === EMPTY) return -1;
      if (state === LIVE && this.#matches(s, c, kind, ah, al, ih, il)) {
        if (Atomics.compareExchange(w, s + S_CTL, c, (c + PIN + GEN) | 0) === c) return s;
        n--; // the slot changed under us: look at it again
        continue;
      }
      i = (i + 1) & mask;
    }
    return -1;
  }

  #unpin(s: number): void {
    const w = this.#w;
    const c = (Atomics.sub(w, s + S_CTL, PIN) - PIN) | 0;
    if ((c & PINS_MASK) !== 0) return;
    // Last one out: reclaim the slot if it holds nothing. The compare-exchange fails if any
    // thread pinned the slot after c was read, because every pin bumps the generation.
    if (Atomics.load(w, s + S_COUNT) !== 0 || Atomics.load(w, s + S_MASK_LO) !== 0 || Atomics.load(w, s + S_MASK_HI) !== 0) return;
    const tomb = ((c & ~STATE_MASK & ~KIND_BIT) + GEN) | TOMB;
    if (Atomics.compareExchange(w, s + S_CTL, c, tomb | 0) !== c) return;
    Atomics.sub(w, H_LIVE, 1);
    Atomics.sub(w, H_LEVEL_LIVE + this.#levelOf((s - HEADER_WORDS) / SLOT_WORDS), 1);
    // Only a tombstone followed by an empty slot can be swept: check before taking the lock.
    if ((Atomics.load(w, this.#next(s) + S_CTL) & STATE_MASK) !== EMPTY) return;
    this.#lock();
    this.#sweep(s);
    this.#unlock();
  }

  /**
   * Turns the tombstone at s, and the tombstones right before it, back into empty slots when
   * the slot after them is empty: no probe can need to pass them then. Under the lock, since
   * only inserts (which hold it) turn tombstones or empty slots into anything else.
   */
  #sweep(s: number): void {
    const w = this.#w;
    if ((Atomics.load(w, this.#next(s) + S_CTL) & STATE_MASK) !== EMPTY) return;
    const k = this.#levelOf((s - HEADER_WORDS) / SLOT_WORDS);
    const base = this.#base(k), mask = this.#size(k) - 1;
    let i = (s - HEADER_WORDS) / SLOT_WORDS - base;
    for (let n = 0; n <= mask; n++, i = (i - 1) & mask) {
      const at = HEADER_WORDS + (base + i) * SLOT_WORDS + S_CTL;
      const c = Atomics.load(w, at);
      if ((c & STATE_MASK) !== TOMB) return;
      if (Atomics.compareExchange(w, at, c, (((c & ~STATE_MASK) + GEN) | EMPTY) | 0) !== c) return;
    }
  }

  /** The slot after s in its level's probe order. */
  #next(s: number): number {
    const i = (s - HEADER_WORDS) / SLOT_WORDS;
    const k = this.#levelOf(i);
    const base = this.#base(k), mask = this.#size(k) - 1;
    return HEADER_WORDS + (base + ((i - base + 1) & mask)) * SLOT_WORDS;
  }

  /** Inserts a key that #pin did not find and returns its slot, pinned. */
  #insert(kind: Kind, ah: number, al: number, ih: number, il: number): number {
    this.#lock();
    try {
      // Under the lock no level is added: every level is looked at, then one is chosen.
      const h = this.#hash(kind, ah, al, ih, il);
      let levels = this.#refresh();
      for (let k = levels - 1; k >= 0; k--) {
        // Another thread inserted it first.
        const s = this.#pinIn(k, h, kind, ah, al, ih, il);
        if (s >= 0) return s;
      }
      if (Atomics.load(this.#w, H_LIVE) >= this.#w[H_CAPACITY]!) {
        throw new SubscriberTableError(SubscriberTableErrorCode.FULL,
          `subscriber table is full (${this.#w[H_CAPACITY]} keys); raise IM_SUBSCRIBER_CAPACITY`);
      }
      // A level takes keys up to a quarter of its slots (short probes); a new level comes next;
      // when no level can be added, levels fill up to half (the capacity's guarantee).
      let free = -1;
      for (let k = levels - 1; k >= 0 && free < 0; k--) free = this.#freeIn(k, h, SLOTS_PER_KEY_BEFORE_GROWTH);
      if (free < 0 && levels < this.#w[H_MAX_LEVELS]!) {
        levels = this.#addLevel();
        free = this.#freeIn(levels - 1, h, SLOTS_PER_KEY_BEFORE_GROWTH);
      }
      for (let k = levels - 1; k >= 0 && free < 0; k--) free = this.#freeIn(k, h, SLOTS_PER_KEY);
      if (free < 0) {
        throw new SubscriberTableError(SubscriberTableErrorCode.FULL,
          `subscriber table is full (${this.#w[H_CAPACITY]} keys); raise IM_SUBSCRIBER_CAPACITY`);
      }
      const w = this.#w;
      const c = Atomics.load(w, free + S_CTL);
      const gen = (c & ~(STATE_MASK | KIND_BIT | PINS_MASK)) + GEN;
      Atomics.store(w, free + S_CTL, (gen | BUSY) | 0);
      w[free + S_APP_HI] = ah;
      w[free + S_APP_LO] = al;
      w[free + S_ID_HI] = ih;
      w[free + S_ID_LO] = il;
      w[free + S_COUNT] = 0;
      w[free + S_MASK_LO] = 0;
      w[free + S_MASK_HI] = 0;
      Atomics.add(w, H_LIVE, 1);
      Atomics.add(w, H_LEVEL_LIVE + this.#levelOf((free - HEADER_WORDS) / SLOT_WORDS), 1);
      // Publishing LIVE (a sequentially consistent store) makes the plain writes above
      // visible to every thread that reads LIVE with Atomics.load.
      Atomics.store(w, free + S_CTL, ((gen + GEN) | LIVE | (kind === Kind.ROOM ? KIND_BIT : 0) | PIN) | 0);
      return free;
    } finally {
      this.#unlock();
    }
  }

  /**
   * A free slot (tombstone or empty) on the key's probe path in level k, if one more key
   * leaves at least `slotsPerKey` slots a key in it; -1 otherwise. Under the lock.
   */
  #freeIn(k: number, h: number, slotsPerKey: number): number {
    const w = this.#w;
    const base = this.#base(k), size = this.#size(k), mask = size - 1;
    if ((Atomics.load(w, H_LEVEL_LIVE + k) + 1) * slotsPerKey > size) return -1;
    for (let i = h & mask, n = 0; n < size; i = (i + 1) & mask, n++) {
      const s = HEADER_WORDS + (base + i) * SLOT_WORDS;
      const state = Atomics.load(w, s + S_CTL) & STATE_MASK;
      if (state === EMPTY || state === TOMB) return s;
    }
    return -1;
  }

  /** Adds a level as large as all the others (under the lock); returns the levels now in use. */
  #addLevel(): number {
    const levels = this.#levels;
    // The memory first (zeroed: every slot EMPTY), then the count that lets threads probe it.
    this.buffer.grow((HEADER_WORDS + this.#slotsIn(levels + 1) * SLOT_WORDS) * 4);
    Atomics.store(this.#w, H_LEVELS, levels + 1);
    return this.#refresh();
  }

  #lock(): void {
    while (Atomics.compareExchange(this.#w, H_LOCK, 0, 1) !== 0) Atomics.pause();
  }

  #unlock(): void {
    Atomics.store(this.#w, H_LOCK, 0);
  }
}

function bitsOf(m: number, base: number, out: number[], n: number): number {
  while (m !== 0) {
    out[n++] = base + 31 - Math.clz32(m & -m);
    m &= m - 1;
  }
  return n;
}

function kindName(kind: Kind): string {
  return kind === Kind.ROOM ? 'room' : 'user';
}
