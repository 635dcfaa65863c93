import { Cmd } from './constants.ts';

/**
 * Body layouts that differ between client protocol versions. Only IM and GROUP_IM do:
 * version 0 has no int32 timestamp between receiver (bytes 8..16) and msgid. Everything
 * the server routes or stores is in the version-1+ layout; a version-0 connection gets
 * its own copy at write time.
 */
const TIMESTAMP_AT = 16;

export function hasTimestampGap(cmd: number): boolean {
  return cmd === Cmd.IM || cmd === Cmd.GROUP_IM;
}

/** v1+ → v0: the timestamp dropped. */
export function toV0Body(body: Buffer): Buffer {
  return Buffer.concat([body.subarray(0, TIMESTAMP_AT), body.subarray(TIMESTAMP_AT + 4)]);
}

/** v0 → v1+: a timestamp inserted (0 when the sender's is unknown). */
export function fromV0Body(body: Buffer, timestamp = 0): Buffer {
  const b = Buffer.allocUnsafe(body.length + 4);
  body.copy(b, 0, 0, TIMESTAMP_AT);
  b.writeInt32BE(timestamp, TIMESTAMP_AT);
  body.copy(b, TIMESTAMP_AT + 4, TIMESTAMP_AT);
  return b;
}

/** Overwrites the timestamp of a v1+ IM / GROUP_IM body in place. */
export function setTimestamp(body: Buffer, cmd: number, seconds: number): void {
  if (cmd === Cmd.IM || cmd === Cmd.GROUP_IM) body.writeInt32BE(seconds, TIMESTAMP_AT);
  else if (cmd === Cmd.CUSTOMER_V2) body.writeInt32BE(seconds, 32);
}
