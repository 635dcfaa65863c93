import { Cmd, HEADER_SIZE } from './constants.ts';
import { hasTimestampGap, toV0Body } from './convert.ts';
import { writeHeader } from './frame.ts';
import { writeI64 } from './int64.ts';

/**
 * A message on its way to clients. The body is encoded once and shared by every receiving
 * connection; each connection writes its own header (its seq, its version) at flush time.
 */
export interface OutFrame {
  cmd: number;
  flag: number;
  /** Body in the current (v1+) layout. */
  body: Buffer;
  /** IM / GROUP_IM body for version-0 clients (no timestamp), made on first need. */
  v0?: Buffer;
  /** A stored message's place in the receiver's queue: written around it as one unit. */
  meta?: Meta;
  /** Part of a reply that must arrive whole (a sync page): never dropped by the queue limit. */
  keep?: boolean;
}

/**
 * METADATA(key, prev) before the message and, when `notify` is set, SYNC_NOTIFY(key) or
 * SYNC_GROUP_NOTIFY(gid, key) after it (docs/store.md, "Queues and keys").
 */
export interface Meta {
  key: number;
  prev: number;
  notify: boolean;
  /** The super group whose queue holds the message; 0 for a user queue. */
  gid: number;
}

export function outFrame(cmd: number, flag: number, body: Buffer, meta?: Meta): OutFrame {
  return meta === undefined ? { cmd, flag, body } : { cmd, flag, body, meta };
}

export const METADATA_BODY = 32;

/** Bytes the frame takes on the wire for `version`, its METADATA and notify included. */
export function wireSize(f: OutFrame, version: number): number {
  const m = f.meta;
  const own = HEADER_SIZE + bodyFor(f, version).length;
  if (m === undefined) return own;
  return own + HEADER_SIZE + METADATA_BODY + (m.notify ? HEADER_SIZE + (m.gid !== 0 ? 16 : 8) : 0);
}

/** Frames on the wire for `f`: itself, and its METADATA and notify when it has them. */
export function frameCount(f: OutFrame): number {
  return f.meta === undefined ? 1 : f.meta.notify ? 3 : 2;
}

/**
 * Writes the frame (with its METADATA and notify) at b[p…], numbered from `seq` on (see
 * frameCount); returns the end.
 */
export function writeOut(b: Buffer, p: number, f: OutFrame, version: number, seq: number): number {
  const m = f.meta;
  if (m !== undefined) {
    writeHeader(b, p, METADATA_BODY, seq++, Cmd.METADATA, version, 0);
    writeI64(b, p + HEADER_SIZE, m.key);
    writeI64(b, p + HEADER_SIZE + 8, m.prev);
    b.fill(0, p + HEADER_SIZE + 16, p + HEADER_SIZE + METADATA_BODY);
    p += HEADER_SIZE + METADATA_BODY;
  }
  const body = bodyFor(f, version);
  writeHeader(b, p, body.length, seq++, f.cmd, version, f.flag);
  body.copy(b, p + HEADER_SIZE);
  p += HEADER_SIZE + body.length;
  if (m !== undefined && m.notify) {
    if (m.gid !== 0) {
      writeHeader(b, p, 16, seq, Cmd.SYNC_GROUP_NOTIFY, version, 0);
      writeI64(b, p + HEADER_SIZE, m.gid);
      writeI64(b, p + HEADER_SIZE + 8, m.key);
      p += HEADER_SIZE + 16;
    } else {
      writeHeader(b, p, 8, seq, Cmd.SYNC_NOTIFY, version, 0);
      writeI64(b, p + HEADER_SIZE, m.key);
      p += HEADER_SIZE + 8;
    }
  }
  return p;
}

/** The body as a client speaking `version` expects it. */
export function bodyFor(f: OutFrame, version: number): Buffer {
  if (version !== 0 || !hasTimestampGap(f.cmd)) return f.body;
  f.v0 ??= toV0Body(f.body);
  return f.v0;
}

/** A whole framed message (header + body), as a route message embeds it. */
export function framed(f: OutFrame, version: number, seq = 0): Buffer {
  const body = bodyFor(f, version);
  const b = Buffer.allocUnsafe(HEADER_SIZE + body.length);
  writeHeader(b, 0, body.length, seq, f.cmd, version, f.flag);
  body.copy(b, HEADER_SIZE);
  return b;
}
