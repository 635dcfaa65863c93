import { hiOf, joinI64, loOf } from '../protocol/int64.ts';
import { Kind } from './layout.ts';
import { SubscriberTableError, SubscriberTableErrorCode } from './table.ts';

/*
 * Layout, in Int32 words of a growable SharedArrayBuffer: a header, then regions, each its
 * slot count (a power of two) and its slots. Only the region the header names is current; a
 * rebuild writes a whole new region and then names it in one store.
 */
const L_MAGIC = 0;
const L_REGION = 1; // word offset of the current region
const L_LIVE = 2; // keys with a count
const L_USED = 3; // live keys and tombstones (a probe passes both)
const HEADER = 8;
const R_SLOTS = 0;
const R_HEADER = 2;
const MAGIC = 0x4c454447; // "LEDG"

const SLOT = 6;
const CTL = 0; // state (2 bits) | kind (bit 2)
const COUNT = 1; // packed as the table's: users low 16 bits all, high 16 online; rooms a plain count
const APP_HI = 2;
const APP_LO = 3;
const ID_HI = 4;
const ID_LO = 5;

const EMPTY = 0;
const LIVE = 1;
const TOMB = 2;
const ROOM_BIT = 4;
const ONLINE_ONE = 0x10000;
const FIRST_SLOTS = 1024;

/**
 * One shard's own counts per key: what it added to the shared subscriber table, so that the
 * main thread can take exactly that out when the shard dies. Written by its shard only and
 * read only once that shard is dead, so it needs no locks; it lives in shared memory only to
 * outlive the shard. It grows with the shard's keys (24 bytes a slot, at most half of them
 * used) instead of reserving the table's whole capacity: a growable SharedArrayBuffer whose
 * pages are committed as it grows. A rebuild (to grow, or to clear tombstones) writes a new
 * region and then names it in the header, so a shard that dies mid-rebuild leaves the old
 * region, complete, for the main thread.
 */
export class Ledger {
  readonly buffer: SharedArrayBuffer;
  readonly #maxSlots: number;
  #w: Int32Array;

  /** A ledger for at most `capacity` keys (the table's capacity: no shard can hold more). */
  static create(capacity: number): Ledger {
    let maxSlots = FIRST_SLOTS;
    while (maxSlots < capacity * 2) maxSlots *= 2;
    // Regions of 1024, 2048, … slots side by side: all the smaller ones fit in one largest,
    // and a rebuild of the largest may need room for a second one beside them. Reserved
    // address space only: pages are committed as the buffer grows.
    const buffer = new SharedArrayBuffer((HEADER + R_HEADER + FIRST_SLOTS * SLOT) * 4, { maxByteLength: (HEADER + 3 * (R_HEADER + maxSlots * SLOT)) * 4 });
    const w = new Int32Array(buffer);
    w[HEADER + R_SLOTS] = FIRST_SLOTS;
    w[L_REGION] = HEADER;
    Atomics.store(w, L_MAGIC, MAGIC);
    return new Ledger(buffer);
  }

  /** Maps a ledger created by another thread. */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#w = new Int32Array(buffer);
    if (Atomics.load(this.#w, L_MAGIC) !== MAGIC) throw new TypeError('buffer is not a ledger');
    this.#maxSlots = ((buffer.maxByteLength / 4 - HEADER) / 3 - R_HEADER) / SLOT;
  }

  /** Keys with a count. */
  get size(): number {
    return Atomics.load(this.#w, L_LIVE);
  }

  /** Bytes of shared memory it holds now. */
  get bytes(): number {
    return this.buffer.byteLength;
  }

  addUser(appid: number, uid: number, online: boolean): void {
    this.#change(Kind.USER, appid, uid, online ? 1 + ONLINE_ONE : 1);
  }

  removeUser(appid: number, uid: number, online: boolean): void {
    this.#change(Kind.USER, appid, uid, online ? -1 - ONLINE_ONE : -1);
  }

  addRoomMember(appid: number, room: number): void {
    this.#change(Kind.ROOM, appid, room, 1);
  }

  removeRoomMember(appid: number, room: number): void {
    this.#change(Kind.ROOM, appid, room, -1);
  }

  /** Visits every key with its count (after the shard is gone, from the main thread). */
  scan(visit: (kind: Kind, appid: number, id: number, count: number) => void): void {
    const w = this.#view();
    const region = Atomics.load(w, L_REGION);
    for (let s = region + R_HEADER, end = s + w[region + R_SLOTS]! * SLOT; s < end; s += SLOT) {
      if ((w[s + CTL]! & 3) !== LIVE) continue;
      visit(w[s + CTL]! & ROOM_BIT ? Kind.ROOM : Kind.USER, joinI64(w[s + APP_HI]!, w[s + APP_LO]!), joinI64(w[s + ID_HI]!, w[s + ID_LO]!), w[s + COUNT]! >>> 0);
    }
  }

  /** The typed array over the whole buffer, renewed when another thread grew it. */
  #view(): Int32Array {
    if (this.#w.byteLength !== this.buffer.byteLength) this.#w = new Int32Array(this.buffer);
    return this.#w;
  }

  #change(kind: Kind, appid: number, id: number, delta: number): void {
    const ah = hiOf(appid), al = loOf(appid), ih = hiOf(id), il = loOf(id);
    let s = this.#find(kind, ah, al, ih, il);
    if (s < 0) {
      if (delta < 0) throw new SubscriberTableError(SubscriberTableErrorCode.NOT_FOUND, `ledger: ${kind === Kind.ROOM ? 'room' : 'user'} ${appid}/${id} is not counted`);
      s = this.#insert(kind, ah, al, ih, il);
    }
    const w = this.#w;
    const count = (w[s + COUNT]! + delta) | 0;
    w[s + COUNT] = count;
    if (count === 0) {
      w[s + CTL] = TOMB;
      w[L_LIVE]!--;
    }
  }

  #home(kind: Kind, ah: number, al: number, ih: number, il: number, slots: number): number {
    let h = Math.imul(il ^ kind, 0x9e3779b1);
    h = Math.imul(h ^ ih ^ (h >>> 15), 0x85ebca6b);
    h = Math.imul(h ^ al ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ ah ^ (h >>> 16), 0x27d4eb2f);
    return (h ^ (h >>> 15)) & (slots - 1);
  }

  /** The slot of a live key, or -1. */
  #find(kind: Kind, ah: number, al: number, ih: number, il: number): number {
    const w = this.#w;
    const region = w[L_REGION]!, slots = w[region + R_SLOTS]!;
    const k = kind === Kind.ROOM ? ROOM_BIT : 0;
    for (let i = this.#home(kind, ah, al, ih, il, slots), n = 0; n < slots; n++, i = (i + 1) & (slots - 1)) {
      const s = region + R_HEADER + i * SLOT;
      const c = w[s + CTL]!;
      if (c === EMPTY) return -1;
      if (c === (LIVE | k) && w[s + ID_LO] === il && w[s + ID_HI] === ih && w[s + APP_LO] === al && w[s + APP_HI] === ah) return s;
    }
    return -1;
  }

  /** Places a key that #find did not find, after a rebuild when half the slots are used. */
  #insert(kind: Kind, ah: number, al: number, ih: number, il: number): number {
    if ((this.#w[L_USED]! + 1) * 2 > this.#w[this.#w[L_REGION]! + R_SLOTS]!) this.#rebuild();
    const w = this.#w;
    const region = w[L_REGION]! + R_HEADER, slots = w[w[L_REGION]! + R_SLOTS]!;
    let i = this.#home(kind, ah, al, ih, il, slots);
    // Tombstones are reused only by a rebuild: a probe here stops at the first empty slot.
    while (w[region + i * SLOT + CTL] !== EMPTY) i = (i + 1) & (slots - 1);
    const s = region + i * SLOT;
    w[s + APP_HI] = ah;
    w[s + APP_LO] = al;
    w[s + ID_HI] = ih;
    w[s + ID_LO] = il;
    w[s + COUNT] = 0;
    w[s + CTL] = LIVE | (kind === Kind.ROOM ? ROOM_BIT : 0);
    w[L_LIVE]!++;
    w[L_USED]!++;
    return s;
  }

  /** Copies the live keys into a new region of a quarter load at most, then names it. */
  #rebuild(): void {
    const old = this.#w;
    const oldRegion = old[L_REGION]!, oldSlots = old[oldRegion + R_SLOTS]!;
    const live = old[L_LIVE]!;
    let slots = FIRST_SLOTS;
    while (slots < (live + 1) * 4 && slots < this.#maxSlots) slots *= 2;
    if ((live + 1) * 2 > slots) {
      throw new SubscriberTableError(SubscriberTableErrorCode.FULL, `ledger is full (${live} keys); raise IM_SUBSCRIBER_CAPACITY`);
    }
    // After the last region, or back at the start when the new region fits before the current one.
    const size = R_HEADER + slots * SLOT;
    const region = HEADER + size <= oldRegion ? HEADER : oldRegion + R_HEADER + oldSlots * SLOT;
    if ((region + size) * 4 > this.buffer.byteLength) this.buffer.grow((region + size) * 4);
    const w = this.#view();
    w.fill(0, region, region + size);
    w[region + R_SLOTS] = slots;
    const into = region + R_HEADER;
    for (let s = oldRegion + R_HEADER, end = s + oldSlots * SLOT; s < end; s += SLOT) {
      if ((w[s + CTL]! & 3) !== LIVE) continue;
      const kind = w[s + CTL]! & ROOM_BIT ? Kind.ROOM : Kind.USER;
      let i = this.#home(kind, w[s + APP_HI]!, w[s + APP_LO]!, w[s + ID_HI]!, w[s + ID_LO]!, slots);
      while (w[into + i * SLOT + CTL] !== EMPTY) i = (i + 1) & (slots - 1);
      w.copyWithin(into + i * SLOT, s, s + SLOT);
    }
    // One store names the new region, complete: a shard that dies before it leaves the old one.
    Atomics.store(w, L_REGION, region);
    w[L_USED] = live;
  }
}
