/**
 * The message store (docs/store.md): per (appid, uid) a user queue and per (appid, gid) a super
 * group queue. Keys are per queue, 1, 2, 3…: a key is handed out under the queue's lock
 * (the single writer of SQLite; the queue's row lock in PostgreSQL), so a key can never
 * become visible before an earlier one of the same queue, and a sync never skips one.
 */
export const QueueKind = { USER: 0, GROUP: 1 } as const;
export type QueueKind = (typeof QueueKind)[keyof typeof QueueKind];

/** What /load_latest_message returns (docs/store.md, "The HTTP API"): IM, GROUP_IM, GROUP_NOTIFICATION, CUSTOMER_V2. */
export const LATEST_CMDS: readonly number[] = [4, 8, 7, 64];

export interface QueueRef {
  appid: number;
  kind: QueueKind;
  /** uid for a user queue, gid for a group queue. */
  owner: number;
}

export interface SaveItem extends QueueRef {
  /** The sending device (0: none, e.g. the HTTP API); a sync marks SELF on that device only. */
  deviceId: number;
  cmd: number;
  /** In the version-2 layout. */
  body: Uint8Array;
}

/** One message: its entries (each in its own queue), and who sent it. They commit together or not at all. */
export interface MessageSave {
  /** The sender's appid and uid (0: none, e.g. a system message): an engine with lanes keeps each sender's messages in one. */
  appid: number;
  sender: number;
  items: SaveItem[];
}

/** The results of saving `messages`' items in one run, handed back message by message. */
export function perMessage(messages: readonly MessageSave[], saved: readonly Saved[]): Saved[][] {
  let at = 0;
  return messages.map((m) => saved.slice(at, (at += m.items.length)));
}

/** Where a message landed: its key in the queue and the queue's previous key (0: none). */
export interface Saved {
  key: number;
  prev: number;
}

export interface StoredMessage {
  key: number;
  deviceId: number;
  cmd: number;
  body: Uint8Array;
}

export interface Page {
  /** Oldest first. */
  messages: StoredMessage[];
  /** The queue's newest key (0: empty queue). */
  newest: number;
  /** More messages follow the last one of the page. */
  more: boolean;
}

/** One engine (SQLite, PostgreSQL) behind the store thread. Every call may fail (StoreError). */
export interface StoreEngine {
  /** Saves in order, all or nothing (one transaction). */
  save(items: SaveItem[]): Promise<Saved[]>;
  /**
   * An engine that commits several transactions at once (PostgreSQL): saves each message
   * whole in its sender's lane, a lane's transactions one after the other, lanes in
   * parallel, so that each sender's messages keep their order in every queue while commits
   * share the disk's flushes. Resolves each message's result (an Error where its lane's
   * transaction failed: none of its entries was saved). Without it, batches are served one
   * after the other with `save`.
   */
  saveInLanes?(messages: readonly MessageSave[]): Promise<(Saved[] | Error)[]>;
  /** Up to `limit` messages after `after`, oldest first. */
  page(q: QueueRef, after: number, limit: number): Promise<Page>;
  /** The newest `limit` messages after `after`, oldest first (super-group sync). */
  newestPage(q: QueueRef, after: number, limit: number): Promise<Page>;
  /** The key of the n-th newest message after `after` (n = 1: the newest); 0 when it holds fewer. */
  nthNewest(q: QueueRef, after: number, n: number): Promise<number>;
  /** The newest `limit` messages of the given cmds, oldest first. */
  latest(appid: number, uid: number, cmds: readonly number[], limit: number): Promise<StoredMessage[]>;
  /** The acknowledged key: the user's (gid 0) or the user's in a super group. */
  acked(appid: number, uid: number, gid: number): Promise<number>;
  /** Raises the acknowledged key to `key` if that is greater. */
  ack(appid: number, uid: number, gid: number, key: number): Promise<void>;
  /** Messages in the user's queue after `after`. */
  countAfter(appid: number, uid: number, after: number): Promise<number>;
  /** Deletes at most `max` messages saved before `beforeMs`; resolves how many. */
  sweep(beforeMs: number, max: number): Promise<number>;
  ping(): Promise<void>;
  /**
   * A consistent copy of the whole store in a new file, taken while it serves (the embedded
   * engine); resolves its pages. An engine with its own tools (PostgreSQL: pg_dump) refuses.
   */
  backup(file: string): Promise<number>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A message written with the key it already has (an import): keys need not be 1, 2, 3… */
export interface ImportedMessage extends SaveItem {
  key: number;
  /** When it was saved (ms), for retention. */
  savedAt: number;
}

export interface AckedKey {
  appid: number;
  uid: number;
  /** 0: the user's key; else the user's key in that super group. */
  gid: number;
  key: number;
}

/** What bin/im-import writes through, besides the engine itself. */
export interface ImportTarget {
  /**
   * Writes messages at their own keys in one transaction; a key its queue already holds is
   * left as it is. Each queue's last key becomes the greatest it holds, so a message saved
   * later gets a key above every imported one. Resolves how many were written.
   */
  importMessages(items: ImportedMessage[]): Promise<number>;
  /** Raises acknowledged keys (as `ack`, many in one transaction). */
  importAcked(keys: AckedKey[]): Promise<void>;
  /** Those of `queues` that already hold (or held) messages. */
  occupied(queues: QueueRef[]): Promise<QueueRef[]>;
}
