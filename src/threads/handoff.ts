import { outFrame, type Meta, type OutFrame } from '../protocol/index.ts';
import type { PackedReader, PackedWriter } from './packed.ts';

/**
 * Cross-shard hand-off: a frame one thread (a shard, or the Channel with what a router sent)
 * asks a shard to deliver to its own connections. Item:
 *   u8 kind | u8 cmd | u8 flag | u8 has meta | i64 appid | i64 id
 *   [ i64 key | i64 prev | u8 notify | u8×7 0 | i64 gid ]   (when it has meta: see OutFrame.meta)
 *   u32 body length | body
 * The body is in the v1+ layout (see protocol/convert.ts).
 */
export const HandoffKind = { USER: 0, ROOM: 1, GROUP: 2 } as const;
export type HandoffKind = (typeof HandoffKind)[keyof typeof HandoffKind];

export function writeHandoff(w: PackedWriter, kind: number, appid: number, id: number, f: OutFrame): void {
  const m = f.meta;
  w.head(kind, f.cmd, f.flag, m === undefined ? 0 : 1).i64(appid).i64(id);
  if (m !== undefined) w.i64(m.key).i64(m.prev).head(m.notify ? 1 : 0, 0, 0, 0).head(0, 0, 0, 0).i64(m.gid);
  w.bytes(f.body);
}

export interface HandoffVisitor {
  handoff(kind: number, appid: number, id: number, f: OutFrame): void;
}

export function readHandoffs(r: PackedReader, v: HandoffVisitor): void {
  while (r.more) {
    const kind = r.u8();
    const cmd = r.u8();
    const flag = r.u8();
    const hasMeta = r.u8() === 1;
    const appid = r.i64();
    const id = r.i64();
    let meta: Meta | undefined;
    if (hasMeta) {
      const key = r.i64();
      const prev = r.i64();
      const notify = r.u8() === 1;
      for (let i = 0; i < 7; i++) r.u8();
      meta = { key, prev, notify, gid: r.i64() };
    }
    v.handoff(kind, appid, id, outFrame(cmd, flag, r.bytes(), meta));
  }
}
