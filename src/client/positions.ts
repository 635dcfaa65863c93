import { createHash } from 'node:crypto';
import type { Frame } from '../protocol/index.ts';

/** Messages delivered as events ahead of the client's key, remembered at most (oldest forgotten first). */
const AHEAD_LIMIT = 10_000;

const fingerprint = (f: Frame) => `${f.cmd}:${createHash('sha1').update(f.body).digest('base64')}`;

/**
 * What identifies a message this client sent, as the store gives it back: its cmd, sender,
 * receiver and content (the server stamps its own time into the body, so not the body).
 */
export function ownCopy(cmd: number, m: { sender: number; receiver: number; content: Uint8Array }): string {
  return `${cmd}:${m.sender}:${m.receiver}:${createHash('sha1').update(m.content).digest('base64')}`;
}

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
  /** Copies of messages this client sent that a sync may still return (ownCopy → how many). */
  readonly #own = new Map<string, number>();
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
   * The ACK of a message this client sent comes after METADATA of the sender's own copy:
   * following on from the held key, the key moves over it (the application knows what it
   * sent). Else (no key yet, a gap, a super group's copy, which is in the group's queue) the
   * copy is remembered by `own` (ownCopy), so that the sync that covers it leaves it out too.
   */
  acked(superGroup: boolean, own: string | undefined): void {
    const m = this.#meta;
    this.#meta = undefined;
    if (m !== undefined && !superGroup && this.key !== undefined && m.prev === this.key) {
      this.key = m.key;
      return;
    }
    if (m === undefined || own === undefined) return; // the store is off: no copy kept
    this.#own.set(own, (this.#own.get(own) ?? 0) + 1);
    if (this.#own.size > AHEAD_LIMIT) this.#own.delete(this.#own.keys().next().value!);
  }

  /**
   * A sync's messages, less those already delivered when it went on from the held key
   * (`onward`; a sync from a key the caller names is the server's answer as it is), and the
   * key it ended at.
   */
  synced<T extends { frame: Frame; body: unknown }>(messages: T[], end: number, gid: number | undefined, onward: boolean): T[] {
    if (gid === undefined) this.key = end;
    else this.#groups.set(gid, end);
    if (!onward || (this.#ahead.size === 0 && this.#own.size === 0)) return messages;
    return messages.filter((m) => !this.#ahead.delete(fingerprint(m.frame)) && !this.#takeOwn(m.frame.cmd, m.body));
  }

  /** A synced message this client sent (remembered by acked): true once for each time it was sent. */
  #takeOwn(cmd: number, body: unknown): boolean {
    if (this.#own.size === 0 || !isMessage(body)) return false;
    const k = ownCopy(cmd, body);
    const n = this.#own.get(k);
    if (n === undefined) return false;
    if (n > 1) this.#own.set(k, n - 1);
    else this.#own.delete(k);
    return true;
  }
}

function isMessage(b: unknown): b is { sender: number; receiver: number; content: Uint8Array } {
  return typeof b === 'object' && b !== null && 'content' in b && 'sender' in b && 'receiver' in b;
}
