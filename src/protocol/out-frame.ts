import { HEADER_SIZE } from './constants.ts';
import { hasTimestampGap, toV0Body } from './convert.ts';
import { writeHeader } from './frame.ts';

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
}

export function outFrame(cmd: number, flag: number, body: Buffer): OutFrame {
  return { cmd, flag, body };
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
