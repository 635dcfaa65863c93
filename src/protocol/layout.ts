import { readI64, writeI64 } from './int64.ts';
import { ProtocolError, ProtocolErrorCode } from './errors.ts';

/**
 * Body layouts are data; encoder and decoder are both compiled from the same list of
 * fields, so they cannot drift apart. Compiling to straight-line code (as protobufjs
 * does) instead of interpreting the list per message is what makes a ROOM_IM decode
 * cost tens of nanoseconds: see bench/codec.bench.ts.
 */
export type FieldType =
  | 'i8'
  | 'u8'
  | 'i16'
  | 'u16'
  | 'i32'
  | 'u32'
  /** int64 as a JS number; values beyond ±(2^53 − 1) are rejected with ERR_ID_RANGE. */
  | 'i64'
  /** int64 as a bigint: nanosecond timestamps need all 64 bits. */
  | 'i64n'
  /** The rest of the body, as a view into the input. Must be the last field. */
  | 'bytes'
  /** uint8 length, then that many UTF-8 bytes. */
  | 'str8'
  /** int16 length, then a whole framed message (header + body), as a view. */
  | 'frame16'
  /** uint16 count, then count × int64. */
  | 'i64list16'
  /** 16 reserved zero bytes: skipped when read, written as zeros. */
  | 'zero16'
  /** Not on the wire in this version; decoded as 0 so all versions share one shape. */
  | 'none';

interface TsTypes {
  i8: number;
  u8: number;
  i16: number;
  u16: number;
  i32: number;
  u32: number;
  i64: number;
  i64n: bigint;
  bytes: Buffer;
  str8: string;
  frame16: Buffer;
  i64list16: number[];
  zero16: never;
  none: number;
}

export type Field = readonly [name: string, type: FieldType];
export type Layout = readonly Field[];

/** The object a layout decodes to and encodes from. */
export type Shape<L extends Layout> = {
  [F in L[number] as F[1] extends 'zero16' ? never : F[0]]: TsTypes[F[1]];
};

export interface BodyCodec<T> {
  /** Bytes every body of this layout has at least. */
  readonly minSize: number;
  /** Exact encoded body size of `m`. */
  size(m: T): number;
  /** Decodes b[start, end). Views into `b` are returned for byte fields. Never throws. */
  decode(b: Buffer, start: number, end: number): T | ProtocolError;
  /** Writes `m` at b[off…] (the caller sized `b` with size()); returns the end offset. */
  encode(m: T, b: Buffer, off: number): number;
}

const FIXED: Record<FieldType, number> = {
  i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, i64: 8, i64n: 8,
  bytes: 0, str8: 1, frame16: 2, i64list16: 2, zero16: 16, none: 0,
};

function strBytes(s: string, what: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > 255) throw new RangeError(`${what} must be at most 255 UTF-8 bytes, got ${n}`);
  return n;
}

function checkFrame16(v: Buffer, what: string): number {
  if (v.length > 0x7fff) throw new RangeError(`${what} must be at most 32767 bytes, got ${v.length}`);
  return v.length;
}

function checkList16(v: readonly number[], what: string): number {
  if (v.length > 0xffff) throw new RangeError(`${what} must hold at most 65535 ids, got ${v.length}`);
  return v.length;
}

const helpers = { readI64, writeI64, strBytes, checkFrame16, checkList16, ProtocolError, ProtocolErrorCode };

const I8 = (e: string) => `((b[${e}] << 24) >> 24)`;
const U8 = (e: string) => `b[${e}]`;
const U16 = (e: string) => `((b[${e}] << 8) | b[${e} + 1])`;
const I16 = (e: string) => `((${U16(e)} << 16) >> 16)`;
const I32 = (e: string) => `((b[${e}] << 24) | (b[${e} + 1] << 16) | (b[${e} + 2] << 8) | b[${e} + 3])`;
const W8 = (e: string, v: string) => `b[${e}] = ${v};`;
const W16 = (e: string, v: string) => `b[${e}] = ${v} >>> 8; b[${e} + 1] = ${v};`;
const W32 = (e: string, v: string) =>
  `b[${e}] = ${v} >>> 24; b[${e} + 1] = ${v} >>> 16; b[${e} + 2] = ${v} >>> 8; b[${e} + 3] = ${v};`;

export function compileLayout<L extends Layout>(name: string, cmd: number, layout: L): BodyCodec<Shape<L>> {
  const idents = layout.map((_, i) => `f${i}`);
  const minSize = layout.reduce((n, [, t]) => n + FIXED[t], 0);
  layout.forEach(([field, type], i) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(field)) throw new Error(`bad field name ${field}`);
    if (type === 'bytes' && i !== layout.length - 1) throw new Error(`${name}.${field}: bytes must be last`);
  });

  const err = (code: string, msg: string) =>
    `return new h.ProtocolError(h.ProtocolErrorCode.${code}, ${JSON.stringify(`${name}: ${msg}`)}, ${cmd});`;

  const dec: string[] = [
    `if (end - start < ${minSize}) ${err('BODY_TOO_SHORT', `body shorter than ${minSize} bytes`)}`,
    'let p = start;',
  ];
  layout.forEach(([field, type], i) => {
    const v = idents[i]!;
    const tooShort = err('BODY_TOO_SHORT', `${field} runs past the end of the body`);
    switch (type) {
      case 'i8': dec.push(`const ${v} = ${I8('p')}; p += 1;`); break;
      case 'u8': dec.push(`const ${v} = ${U8('p')}; p += 1;`); break;
      case 'i16': dec.push(`const ${v} = ${I16('p')}; p += 2;`); break;
      case 'u16': dec.push(`const ${v} = ${U16('p')}; p += 2;`); break;
      case 'i32': dec.push(`const ${v} = ${I32('p')}; p += 4;`); break;
      case 'u32': dec.push(`const ${v} = ${I32('p')} >>> 0; p += 4;`); break;
      case 'i64':
        dec.push(`const ${v} = h.readI64(b, p); p += 8;`);
        dec.push(`if (${v} !== ${v}) ${err('ID_RANGE', `${field} is outside ±(2^53 − 1)`)}`);
        break;
      case 'i64n': dec.push(`const ${v} = b.readBigInt64BE(p); p += 8;`); break;
      case 'bytes': dec.push(`const ${v} = b.subarray(p, end); p = end;`); break;
      case 'str8':
        dec.push(`const ${v}n = b[p]; p += 1;`);
        dec.push(`if (p + ${v}n > end) ${tooShort}`);
        dec.push(`const ${v} = b.toString('utf8', p, p + ${v}n); p += ${v}n;`);
        break;
      case 'frame16':
        dec.push(`const ${v}n = ${I16('p')}; p += 2;`);
        dec.push(`if (${v}n < 0) ${err('BODY_MALFORMED', `${field} length is negative`)}`);
        dec.push(`if (p + ${v}n > end) ${tooShort}`);
        dec.push(`const ${v} = b.subarray(p, p + ${v}n); p += ${v}n;`);
        break;
      case 'i64list16':
        dec.push(`const ${v}n = ${U16('p')}; p += 2;`);
        dec.push(`if (p + ${v}n * 8 > end) ${tooShort}`);
        dec.push(`const ${v} = new Array(${v}n);`);
        dec.push(`for (let i = 0; i < ${v}n; i++, p += 8) {`);
        dec.push(`  const x = h.readI64(b, p);`);
        dec.push(`  if (x !== x) ${err('ID_RANGE', `${field} holds an id outside ±(2^53 − 1)`)}`);
        dec.push(`  ${v}[i] = x;`);
        dec.push('}');
        break;
      case 'zero16': dec.push('p += 16;'); break;
      case 'none': dec.push(`const ${v} = 0;`); break;
    }
  });
  const fields = layout
    .map(([field, type], i) => (type === 'zero16' ? null : `${field}: ${idents[i]}`))
    .filter((x) => x !== null);
  dec.push(`return { ${fields.join(', ')} };`);

  const size: string[] = [`let n = ${minSize};`];
  const enc: string[] = ['let p = off;'];
  layout.forEach(([field, type]) => {
    const v = `m.${field}`;
    const what = JSON.stringify(`${name}.${field}`);
    switch (type) {
      case 'i8': case 'u8': enc.push(W8('p', v), 'p += 1;'); break;
      case 'i16': case 'u16': enc.push(W16('p', v), 'p += 2;'); break;
      case 'i32': case 'u32': enc.push(W32('p', v), 'p += 4;'); break;
      case 'i64': enc.push(`h.writeI64(b, p, ${v}); p += 8;`); break;
      case 'i64n': enc.push(`b.writeBigInt64BE(${v}, p); p += 8;`); break;
      case 'bytes':
        size.push(`n += ${v}.length;`);
        enc.push(`b.set(${v}, p); p += ${v}.length;`);
        break;
      case 'str8':
        size.push(`n += h.strBytes(${v}, ${what});`);
        enc.push(`{ const k = b.write(${v}, p + 1, 'utf8'); b[p] = k; p += 1 + k; }`);
        break;
      case 'frame16':
        size.push(`n += h.checkFrame16(${v}, ${what});`);
        enc.push(`${W16('p', `${v}.length`)} p += 2; b.set(${v}, p); p += ${v}.length;`);
        break;
      case 'i64list16':
        size.push(`n += 8 * h.checkList16(${v}, ${what});`);
        enc.push(`${W16('p', `${v}.length`)} p += 2;`);
        enc.push(`for (let i = 0; i < ${v}.length; i++, p += 8) h.writeI64(b, p, ${v}[i]);`);
        break;
      case 'zero16': enc.push('b.fill(0, p, p + 16); p += 16;'); break;
      case 'none': break;
    }
  });
  size.push('return n;');
  enc.push('return p;');

  const make = (params: string, body: string[]) =>
    new Function('h', `return function (${params}) {\n${body.join('\n')}\n};`)(helpers);
  return {
    minSize,
    size: make('m', size),
    decode: make('b, start, end', dec),
    encode: make('m, b, off', enc),
  };
}
