import { createHash } from 'node:crypto';
import type { Frame } from '../protocol/index.ts';

/** Messages delivered as events ahead of the client's key, remembered at most (oldest forgotten first). */
const AHEAD_LIMIT = 10_000;

const fingerprint = (f: Frame) => `${f.cmd}:${createHash('sha1').update(f.body).digest('base64')}`;

/**
 * Where a client stands in its queues, so that each stored message reaches the application
 * once, whether pushed or synced. A push comes after METADATA(key, prev): when prev is the
 * key the client holds, the push follows on from it and the key moves to it. Otherwise (a
 * gap, a push from another server, whose prev is 0, or no key yet) the message is still
 * delivered, and remembered, so that the sync that covers it later leaves it out.
 */
export class Positions {
  /** The user queue's key: the newest message delivered with none missing before it. */
  key: number | undefined;
  readonly #groups = new Map<number, number>();
  readonly #ahead = new Set<string>();
  #meta: { key: number; prev: number } | undefined;

  constructor(key: number | undefined) {
    this.key = key;
  }

  groupKey(gid: number): number | undefined {
    return this.#groups.get(gid);
  }

  metadata(key: number, prev: number): void {
    this.#meta = { key, prev };
  }

  /** A pushed stored message (gid: a super group's, whose keys are the group queue's). */
  pushed(f: Frame, gid?: number): void {
    const m = this.#meta;
    this.#meta = undefined;
    if (m === undefined) return; // the store is off: nothing to sync it again
    const held = gid === undefined ? this.key : this.#groups.get(gid);
    if (held !== undefined && m.prev === held) {
      if (gid === undefined) this.key = m.key;
      else this.#groups.set(gid, m.key);
      return;
    }
    this.#ahead.add(fingerprint(f));
    if (this.#ahead.size > AHEAD_LIMIT) this.#ahead.delete(this.#ahead.values().next().value!);
  }

  /**
   * The ACK of a message this device sent comes after METADATA of the sender's own copy:
   * following on from the held key, the key moves over it (the application knows what it
   * sent); else a later sync returns it, flagged SELF. A super group's copy is the group's.
   */
  acked(superGroup: boolean): void {
    const m = this.#meta;
    this.#meta = undefined;
    if (m !== undefined && !superGroup && this.key !== undefined && m.prev === this.key) this.key = m.key;
  }

  /**
   * A sync's messages, less those already delivered when it went on from the held key
   * (`onward`; a sync from a key the caller names is the server's answer as it is), and the
   * key it ended at.
   */
  synced<T extends { frame: Frame }>(messages: T[], end: number, gid: number | undefined, onward: boolean): T[] {
    if (gid === undefined) this.key = end;
    else this.#groups.set(gid, end);
    if (!onward || this.#ahead.size === 0) return messages;
    return messages.filter((m) => !this.#ahead.delete(fingerprint(m.frame)));
  }
}
