import type { OutFrame } from '../protocol/index.ts';
import type { PackedReader, PackedWriter } from './packed.ts';

/**
 * Cross-shard hand-off: a frame one thread (a shard, or the Channel with what a router sent)
 * asks a shard to deliver to its own connections. Item:
 *   u8 kind | u8 cmd | u8 flag | u8 0 | i64 appid | i64 id | u32 body length | body
 * The body is in the v1+ layout (see protocol/convert.ts).
 */
export const HandoffKind = { USER: 0, ROOM: 1, GROUP: 2 } as const;
export type HandoffKind = (typeof HandoffKind)[keyof typeof HandoffKind];

export function writeHandoff(w: PackedWriter, kind: number, appid: number, id: number, f: OutFrame): void {
  w.head(kind, f.cmd, f.flag, 0).i64(appid).i64(id).bytes(f.body);
}

export interface HandoffVisitor {
  handoff(kind: number, appid: number, id: number, f: OutFrame): void;
}

export function readHandoffs(r: PackedReader, v: HandoffVisitor): void {
  while (r.more) {
    const kind = r.u8();
    const cmd = r.u8();
    const flag = r.u8();
    r.u8();
    const appid = r.i64();
    const id = r.i64();
    v.handoff(kind, appid, id, { cmd, flag, body: r.bytes() });
  }
}
