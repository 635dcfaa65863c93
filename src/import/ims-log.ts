/**
 * The log of a GoBelieve `ims` storage folder, as docs/import.md describes it: files
 * `message_0`, `message_1`, … each a 32-byte header then records, all integers big-endian.
 * A record is int32 magic, a 12-byte frame header (int32 body length, int32 seq, uint8 cmd,
 * uint8 version, uint8 flag, uint8 0), the body, int32 magic. A record's id is
 * `N × 2^27 + its offset in message_N`: for a message record, that id is its sync key.
 * Reading and writing both derive from the constants here.
 */
import { readI64 } from '../protocol/int64.ts';

export const LOG = {
  MAGIC: 0x494d494d,
  FORMAT: 0x00010000,
  HEADER: 32,
  /** ims starts a new file rather than let one pass this. */
  BLOCK: 134217728,
  /** Bytes of a record around its body: magic, frame header, closing magic. */
  OVERHEAD: 20,
  /** The largest body this reader accepts; ims bodies are under 32 KiB. */
  MAX_BODY: 1 << 20,
} as const;

/** Queue record cmds: a user's queue (flag GROUP_IM for a normal group's copy) and a super group's. */
export const QueueCmd = { GROUP: 247, USER: 248 } as const;
/** Queue records of formats ims itself no longer reads. */
export const RETIRED_QUEUE_CMDS: ReadonlySet<number> = new Set([249, 250, 251, 252, 253, 254, 255]);
export const QUEUE_FLAG_GROUP_IM = 0x04;
/** The message cmds ims stores, in the version-2 body layout: IM, GROUP_NOTIFICATION, GROUP_IM, SYSTEM, CUSTOMER_V2. */
export const MESSAGE_CMDS: ReadonlySet<number> = new Set([4, 7, 8, 21, 64]);
const QUEUE_BODY = 64;

export const idOf = (fileNo: number, offset: number): number => fileNo * LOG.BLOCK + offset;
export const fileNoOf = (id: number): number => Math.floor(id / LOG.BLOCK);
export const offsetOf = (id: number): number => id % LOG.BLOCK;

export interface LogRecord {
  /** File number × 2^27 + offset: a message record's sync key. */
  id: number;
  cmd: number;
  version: number;
  flag: number;
  body: Buffer;
}

/** A queue record's body: the message `msgid` filed in `owner`'s queue (a uid, or a gid for cmd 247). */
export interface QueueEntry {
  appid: number;
  owner: number;
  msgid: number;
  device: number;
  seq: number;
}

export function readQueueEntry(body: Uint8Array): QueueEntry | undefined {
  if (body.length !== QUEUE_BODY) return undefined;
  const entry = { appid: readI64(body, 0), owner: readI64(body, 8), msgid: readI64(body, 16), device: readI64(body, 24), seq: readI64(body, 32) };
  return Object.values(entry).some(Number.isNaN) ? undefined : entry;
}

/** The Unix time (s) a stored message carries, when its layout has one: IM, GROUP_IM, CUSTOMER_V2. */
export function messageTime(cmd: number, body: Uint8Array): number | undefined {
  const at = cmd === 4 || cmd === 8 ? 16 : cmd === 64 ? 32 : -1;
  if (at < 0 || body.length < at + 4) return undefined;
  return ((body[at]! << 24) | (body[at + 1]! << 16) | (body[at + 2]! << 8) | body[at + 3]!) >>> 0;
}

/** Where and why reading a file stopped short of its end. */
export interface Damage {
  file: string;
  offset: number;
  /** 'torn': an incomplete last record (ims stopped mid-write); 'corrupt': bytes that are no record. */
  kind: 'torn' | 'corrupt';
  why: string;
}

export function encodeHeader(): Buffer {
  const b = Buffer.alloc(LOG.HEADER);
  b.writeInt32BE(LOG.MAGIC, 0);
  b.writeInt32BE(LOG.FORMAT, 4);
  return b;
}

export function encodeRecord(cmd: number, version: number, flag: number, body: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(LOG.OVERHEAD + body.length);
  b.writeInt32BE(LOG.MAGIC, 0);
  b.writeInt32BE(body.length, 4);
  b.writeInt32BE(0, 8);
  b[12] = cmd;
  b[13] = version;
  b[14] = flag;
  b[15] = 0;
  b.set(body, 16);
  b.writeInt32BE(LOG.MAGIC, 16 + body.length);
  return b;
}

export function encodeQueueEntry(e: QueueEntry, prev: number, prevPeer: number, prevBatch: number): Buffer {
  const b = Buffer.alloc(QUEUE_BODY);
  [e.appid, e.owner, e.msgid, e.device, e.seq, prev, prevPeer, prevBatch].forEach((v, i) => b.writeBigInt64BE(BigInt(v), i * 8));
  return b;
}

/**
 * Decodes the record at `at` of `buf` (`fileEnd`: whether no more bytes follow `buf` in the
 * file). Returns the record and its length, 'more' when `buf` ends inside it, or Damage.
 */
export function decodeRecord(buf: Buffer, at: number, fileEnd: boolean, fileNo: number, file: string, base: number):
  { rec: LogRecord; length: number } | 'more' | Damage {
  const offset = base + at;
  const left = buf.length - at;
  const torn = (why: string): Damage | 'more' => (fileEnd ? { file, offset, kind: 'torn', why } : 'more');
  if (left < 16) {
    if (left >= 4 && buf.readInt32BE(at) !== LOG.MAGIC) return { file, offset, kind: 'corrupt', why: 'no record magic' };
    return torn(`${left} bytes where a record header starts`);
  }
  if (buf.readInt32BE(at) !== LOG.MAGIC) return { file, offset, kind: 'corrupt', why: 'no record magic' };
  const len = buf.readInt32BE(at + 4);
  if (len < 0 || len > LOG.MAX_BODY) return { file, offset, kind: 'corrupt', why: `body length ${len}` };
  if (left < LOG.OVERHEAD + len) return torn(`the record needs ${LOG.OVERHEAD + len} bytes, the file has ${left}`);
  if (buf.readInt32BE(at + 16 + len) !== LOG.MAGIC) {
    return fileEnd && left === LOG.OVERHEAD + len
      ? { file, offset, kind: 'torn', why: 'the closing magic is missing' }
      : { file, offset, kind: 'corrupt', why: 'the closing magic is missing' };
  }
  return {
    rec: { id: idOf(fileNo, offset), cmd: buf[at + 12]!, version: buf[at + 13]!, flag: buf[at + 14]!, body: buf.subarray(at + 16, at + 16 + len) },
    length: LOG.OVERHEAD + len,
  };
}
