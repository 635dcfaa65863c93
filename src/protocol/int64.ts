/**
 * int64 fields as JavaScript numbers: ids, appids and keys stay within ±2^53 (the codec
 * refuses others with ERR_ID_RANGE), so the hot path never allocates a BigInt.
 */
export const TWO_32 = 4294967296;

/** Reads a big-endian int64; NaN when it is beyond ±2^53 (not a number we can hold exactly). */
export function readI64(b: Uint8Array, p: number): number {
  const hi = (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
  const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
  const v = hi * TWO_32 + lo;
  return Number.isSafeInteger(v) ? v : NaN;
}

/** Writes v (an integer within ±2^53, or a non-negative double such as a ns timestamp) big-endian. */
export function writeI64(b: Uint8Array, p: number, v: number): void {
  const hi = Math.floor(v / TWO_32);
  const lo = Math.floor(v - hi * TWO_32);
  b[p] = hi >>> 24;
  b[p + 1] = hi >>> 16;
  b[p + 2] = hi >>> 8;
  b[p + 3] = hi;
  b[p + 4] = lo >>> 24;
  b[p + 5] = lo >>> 16;
  b[p + 6] = lo >>> 8;
  b[p + 7] = lo;
}

/** High and low 32-bit halves (signed high, low as int32 bits), for Int32Array storage. */
export const hiOf = (v: number): number => ((v | 0) === v ? v >> 31 : Math.floor(v / TWO_32) | 0);
export const loOf = (v: number): number => ((v | 0) === v ? v : (v - Math.floor(v / TWO_32) * TWO_32) | 0);
export const joinI64 = (hi: number, lo: number): number => hi * TWO_32 + (lo >>> 0);
