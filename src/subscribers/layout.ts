/**
 * Memory layout of the subscriber table's SharedArrayBuffer, in Int32 words. Every thread
 * maps the same buffer; these constants are the only place the layout is written down.
 *
 * header: HEADER_WORDS words, then levels of slots, SLOT_WORDS words a slot. Level 0 has
 * S0 slots (a power of two); level k ≥ 1 has S0·2^(k-1), so each new level doubles the
 * table and level k begins at slot S0·2^(k-1) (the sum of the levels before it). A level is
 * an open-addressing table of its own; a key lives in one level. The buffer is a growable
 * SharedArrayBuffer: a level's memory is committed when the level is added, not before.
 * A slot is 8 words (32 bytes, two per cache line):
 *   CTL      state (2 bits) | kind (1 bit) | pins (7 bits) | generation (22 bits)
 *   COUNT    users: low 16 bits all connections, high 16 bits online ones; rooms: plain count
 *   MASK_LO  shards 0..31 that hold a connection for the key
 *   MASK_HI  shards 32..63
 *   APP_HI, APP_LO, ID_HI, ID_LO   the int64 appid and id
 */
export const H_LOCK = 0; // spin lock serialising inserts, tombstone clean-up and new levels
export const H_LIVE = 1; // live keys
export const H_CAPACITY = 2; // most live keys allowed
export const H_S0 = 3; // slots of level 0, a power of two
export const H_MAGIC = 4;
export const H_LEVELS = 5; // levels in use; only grows, under the lock, after the buffer has
export const H_MAX_LEVELS = 6; // levels the buffer can hold
export const H_LEVEL_LIVE = 16; // live keys of level k at H_LEVEL_LIVE + k
const MAX_LEVELS = 32;
export const HEADER_WORDS = H_LEVEL_LIVE + MAX_LEVELS;
export const MAGIC = 0x53554254; // "SUBT"
/**
 * Slots of level 0 for a table that is larger: 2 MiB of address space, whose pages are
 * committed only as keys land on them; 16,384 keys (a quarter) before a level is added.
 */
export const FIRST_LEVEL_SLOTS = 65536;

export const SLOT_WORDS = 8;
export const S_CTL = 0;
export const S_COUNT = 1;
export const S_MASK_LO = 2;
export const S_MASK_HI = 3;
export const S_APP_HI = 4;
export const S_APP_LO = 5;
export const S_ID_HI = 6;
export const S_ID_LO = 7;

export const STATE_MASK = 0b11;
export const EMPTY = 0; // never used: ends every probe
export const BUSY = 1; // being claimed under the lock; its key is being written
export const LIVE = 2;
export const TOMB = 3; // was live; reusable by an insert
export const KIND_BIT = 1 << 2;
export const PIN = 1 << 3;
export const PINS_MASK = 0x7f << 3;
/** Every pin and every state change adds GEN, so a compare-exchange on CTL sees any change since it was read. */
export const GEN = 1 << 10;

export const Kind = { USER: 0, ROOM: 1 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export const MAX_SHARDS = 64;
/** Slots per allowed key: a load factor of at most one half (in each level) keeps probes short. */
export const SLOTS_PER_KEY = 2;
/** A level takes keys up to this many slots a key before a new level is added (shorter probes). */
export const SLOTS_PER_KEY_BEFORE_GROWTH = 4;
