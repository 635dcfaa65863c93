import { Cmd, Flag, ProtocolError, codecs, encodeBody, readI64, type Frame, type OutFrame } from '../protocol/index.ts';
import type { Group } from '../groups/source.ts';
import type { Logger } from '../log/logger.ts';
import type { StoreClient } from '../store/client.ts';
import { QueueKind, type Page, type StoredMessage } from '../store/types.ts';
import type { Connection } from './connection.ts';
import type { ShardStats } from './stats.ts';
import { SyncTurns } from './sync-turns.ts';
import { MAX_WAITING_SYNCS } from '../config/limits.ts';

const SYNC = codecs.SYNC.forVersion(2);
const SYNC_GROUP = codecs.SYNC_GROUP.forVersion(2);

export interface SyncOptions {
  /** null: IM_STORE=off, a pure relay (empty syncs). */
  store: StoreClient | null;
  loadGroup: (appid: number, gid: number) => Promise<Group | null>;
  stats: ShardStats;
  log: Logger;
  syncLimit: number;
  syncHardLimit: number;
  groupSyncLimit: number;
}

/** What a sync found: the key it went on from, and the page after it. */
interface Found {
  from: number;
  page: Page;
}

/**
 * The sync requests that read stored messages back (docs/store.md, "Sync"), and the keys
 * devices acknowledge. Replies to one client go out in the order it asked (SyncTurns).
 */
export class Sync {
  readonly #turns = new SyncTurns();
  readonly #o: SyncOptions;

  constructor(o: SyncOptions) {
    this.#o = o;
  }

  /** SYNC(k): one page of the user's queue after k. */
  sync(c: Connection, f: Frame): void {
    const m = SYNC.decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    const store = this.#o.store;
    if (store === null) return emptySync(c, f.body.subarray(0, 8), Cmd.SYNC_BEGIN, Cmd.SYNC_END);
    const q = { appid: c.appid, kind: QueueKind.USER, owner: c.uid };
    const key = (k: number) => encodeBody(codecs.SYNC_BEGIN, { sync_key: k }, 2);
    this.#inTurn(c, 'sync', Cmd.SYNC, async () => {
      const from = m.sync_key > 0 ? m.sync_key : await store.call({ op: 'acked', appid: c.appid, uid: c.uid, gid: 0 });
      const hard = this.#o.syncHardLimit;
      // A backlog past the hard limit: only its newest `hard` messages are offered. Counted
      // in messages, not keys: imported keys (ims message ids) are far apart.
      const skipTo = hard > 0 ? await store.call({ op: 'nthNewest', q, after: from, n: hard + 1 }) : 0;
      return { from, page: await store.call({ op: 'page', q, after: Math.max(from, skipTo), limit: this.#o.syncLimit }) };
    }, (r) => {
      const last = this.#page(c, r, Cmd.SYNC_BEGIN, Cmd.SYNC_END, key(m.sync_key), key);
      if (r.page.more) c.send(keep(Cmd.SYNC_NOTIFY, key(last + 1)));
    });
  }

  /** SYNC_GROUP(gid, k): the newest messages of a super group after k. */
  syncGroup(c: Connection, f: Frame): void {
    const m = SYNC_GROUP.decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    const store = this.#o.store;
    if (store === null) return emptySync(c, f.body.subarray(0, 16), Cmd.SYNC_GROUP_BEGIN, Cmd.SYNC_GROUP_END);
    const key = (k: number) => encodeBody(codecs.SYNC_GROUP_BEGIN, { group_id: m.group_id, sync_key: k }, 2);
    this.#inTurn(c, `group:${m.group_id}`, Cmd.SYNC_GROUP, async () => {
      const g = await this.#o.loadGroup(c.appid, m.group_id);
      if (g === null || !g.members.has(c.uid)) return null; // no reply, as the reference
      if (!g.super) return { from: m.sync_key, page: { messages: [], newest: 0, more: false } };
      const from = m.sync_key > 0 ? m.sync_key : await store.call({ op: 'acked', appid: c.appid, uid: c.uid, gid: g.id });
      const q = { appid: c.appid, kind: QueueKind.GROUP, owner: g.id };
      return { from, page: await store.call({ op: 'newestPage', q, after: from, limit: this.#o.groupSyncLimit }) };
    }, (r) => {
      if (r !== null) this.#page(c, r, Cmd.SYNC_GROUP_BEGIN, Cmd.SYNC_GROUP_END, key(m.sync_key), key);
    });
  }

  /** SYNC_KEY / GROUP_SYNC_KEY: the key a device acknowledged (kept if greater), for key-0 syncs. */
  acknowledge(c: Connection, gid: number, key: number): void {
    const store = this.#o.store;
    if (store === null || key <= 0) return;
    store.call({ op: 'ack', appid: c.appid, uid: c.uid, gid, key }).catch((err: unknown) => this.#failed('SYNC_KEY', err, c));
  }

  /**
   * A sync's reads, then its reply, in the client's turn (SyncTurns); a client with too many
   * waiting is cut off. A read that fails sends nothing: the client asks again.
   */
  #inTurn<T>(c: Connection, key: string, cmd: number, read: () => Promise<T>, reply: (r: T) => void): void {
    const run = (done: () => void) => read().then(c.later(cmd, (r: T) => {
      reply(r);
      done();
    }), (err: unknown) => {
      this.#failed(cmd === Cmd.SYNC ? 'SYNC' : 'SYNC_GROUP', err, c);
      done();
    });
    if (this.#turns.run(c, key, run) || !c.cutOff()) return;
    this.#o.stats.slowDisconnects++;
    this.#o.log.warn({ conn: c.id, uid: c.uid, appid: c.appid, waiting: MAX_WAITING_SYNCS },
      'slow consumer: more sync requests waiting than MAX_WAITING_SYNCS for a client that does not read its replies; disconnecting it');
  }

  /** BEGIN, the page's messages, END with the last key the client has now; returns that key. */
  #page(c: Connection, r: Found, begin: number, end: number, asked: Buffer, key: (k: number) => Buffer): number {
    c.send(keep(begin, asked));
    for (const msg of r.page.messages) c.send(synced(c, msg));
    const newest = r.page.newest;
    const last = r.page.messages.at(-1)?.key ?? (newest > 0 && newest < r.from ? newest : r.from);
    c.send(keep(end, key(last)));
    return last;
  }

  #failed(what: string, err: unknown, c: Connection): void {
    this.#o.stats.storeFailures++;
    this.#o.log.warn({ err: (err as Error).message, conn: c.id, uid: c.uid }, `${what}: the store failed; nothing sent`);
  }
}

/** A stored message as a sync returns it: flag 0, or SELF on the device that sent it. */
function synced(c: Connection, m: StoredMessage): OutFrame {
  const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  let self = false;
  if (m.deviceId !== 0 && m.deviceId === c.deviceNo) {
    if (m.cmd === Cmd.IM || m.cmd === Cmd.GROUP_IM) self = readI64(body, 0) === c.uid;
    else if (m.cmd === Cmd.CUSTOMER_V2) self = readI64(body, 0) === c.appid && readI64(body, 8) === c.uid;
  }
  return { cmd: m.cmd, flag: self ? Flag.SELF : 0, body, keep: true };
}

function keep(cmd: number, body: Buffer): OutFrame {
  return { cmd, flag: 0, body, keep: true };
}

/** With the store off: BEGIN then END, each echoing the request's key fields. */
function emptySync(c: Connection, key: Buffer, begin: number, end: number): void {
  const body = Buffer.from(key);
  c.send(keep(begin, body));
  c.send(keep(end, body));
}
