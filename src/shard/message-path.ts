import { Cmd, Flag, codecs, encodeBody, outFrame, type OutFrame } from '../protocol/index.ts';
import type { Group } from '../groups/source.ts';
import type { Logger } from '../log/logger.ts';
import { QueueKind, type MessageSave, type SaveItem, type Saved } from '../store/types.ts';
import type { Connection } from './connection.ts';
import { Tell, type KindRule } from './kinds.ts';
import { ack } from './replies.ts';
import type { Routing } from './routing.ts';
import type { ShardStats } from './stats.ts';

/** Who a stored message is for. */
export type Receivers =
  /** One user, in their own app (a CUSTOMER_V2 crosses apps). */
  | { readonly user: number; readonly appid: number }
  /** Users of the sender's app, each in their own queue. */
  | { readonly users: readonly number[] }
  /** A group's members (authorized before). */
  | { readonly group: Group };

/** A message for the store and its receivers, decoded and authorized by whoever took it in. */
export interface Outgoing {
  readonly kind: KindRule;
  /** The sender's app and uid (0: the HTTP API's system messages and notifications). */
  readonly appid: number;
  readonly sender: number;
  /** The sending device (0: none); a sync marks SELF on that device only. */
  readonly deviceNo: number;
  /** In the version-2 layout, timestamp stamped; kept by the store and shared by every receiver. */
  readonly body: Buffer;
  /** The client frame's flag (0 from the HTTP API). */
  readonly flag: number;
  readonly to: Receivers;
  /**
   * The client that sent it, and its frame's seq: never written back to that connection,
   * weighed against what it may have waiting for the store, and ACKed. null: the HTTP API.
   */
  readonly from: Connection | null;
  readonly seq: number;
}

/** Saves one message's entries in order, all or nothing; null with IM_STORE=off (a pure relay). */
export type Save = ((m: MessageSave) => Promise<Saved[]>) | null;

const DONE: Promise<void> = Promise.resolve();
/** What a queue entry weighs while its save is under way (its object, its share of the request). */
const ENTRY_BYTES = 64;

/**
 * The one path of every stored message, whoever sent it (a client, the HTTP API) and
 * whatever its kind (kinds.ts): save → METADATA and the message (or a sync notification)
 * to this shard's connections, the other shards and the other servers → offline push →
 * the sender's ACK. A message whose save fails is neither delivered nor acknowledged: a
 * client sends it again, an HTTP post fails.
 */
export class MessagePath {
  readonly #routing: Routing;
  readonly #save: Save;
  readonly #stats: ShardStats;
  readonly #log: Logger;

  constructor(routing: Routing, save: Save, stats: ShardStats, log: Logger) {
    this.#routing = routing;
    this.#save = save;
    this.#stats = stats;
    this.#log = log;
  }

  /**
   * Resolves once delivered (with the store off, in this turn). Rejects when the store fails,
   * for the HTTP API only: a client's failure is logged and left unacknowledged.
   */
  send(m: Outgoing): Promise<void> {
    const save = this.#save;
    const { items, own } = queueEntries(m, save !== null);
    if (save === null) {
      this.#deliver(m, items, own, null);
      return DONE;
    }
    const c = m.from;
    const saved = save({ appid: m.appid, sender: m.sender, items });
    if (c !== null) {
      // What one client may have waiting for the store (Connection.saving): the body, held
      // once, and a small entry a queue.
      const bytes = m.body.length + ENTRY_BYTES * items.length;
      c.saving(bytes);
      const settled = () => c.saved(bytes);
      saved.then(settled, settled);
    }
    const deliver = (s: Saved[]) => this.#deliver(m, items, own, s);
    return saved.then(c === null ? deliver : c.later(m.kind.cmd, deliver), (err: unknown) => this.#failed(m, err));
  }

  #deliver(m: Outgoing, items: readonly SaveItem[], own: number, saved: readonly Saved[] | null): void {
    const { kind, to } = m;
    const c = m.from;
    const r = this.#routing;
    const superGroup = 'group' in to && to.group.super;
    if (items.length === 1 && items[0]!.kind === QueueKind.GROUP) {
      // A super group's one queue, or any group with the store off: resolved by every shard and server.
      const g = (to as { group: Group }).group;
      const s = saved?.[0];
      const f = this.#unit(m, items[0]!, s, superGroup, false);
      r.toGroup(g, f, m.sender, { exclude: c, push: kind.push ? (kind.tell === Tell.MESSAGE ? f : this.#plain(m, superGroup)) : undefined });
    } else if ('user' in to) {
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        // The second entry is the sender's own copy (SELF on its other devices).
        const f = this.#unit(m, it, saved?.[i], false, i === 1);
        const push = i === 0 && kind.push ? (kind.tell === Tell.MESSAGE || saved === null ? f : this.#plain(m, false)) : undefined;
        r.toUser(it.appid, it.owner, f, { exclude: c, push });
      }
    } else {
      const appid = 'group' in to ? to.group.appid : m.appid;
      const uids = items.map((it) => it.owner);
      if (saved === null) {
        const f = this.#plain(m, false);
        r.toEach(appid, uids, uids.map(() => f), c);
      } else if (kind.tell === Tell.MESSAGE) {
        // One hand-over for all: the same body, each member's own key.
        r.toEach(appid, uids, items.map((it, i) => this.#unit(m, it, saved[i], false, false)), c);
      } else {
        for (let i = 0; i < items.length; i++) r.toUser(appid, uids[i]!, this.#unit(m, items[i]!, saved[i], false, false), { exclude: c });
      }
      if (kind.push) {
        if ('group' in to) r.pushOffline(to.group, m.sender, this.#plain(m, false));
        else r.pushTo(appid, uids, this.#plain(m, false));
      }
    }
    if (c === null) return;
    c.send(ackFrame(m.seq, c.version, 0, superGroup && kind.markSuper ? Flag.SUPER_GROUP : 0, own < 0 ? undefined : saved?.[own]));
  }

  /**
   * What a receiver's connection is sent for one queue entry: the message preceded by
   * METADATA(key, prev) of that entry and followed by SYNC_NOTIFY(key) (the connection
   * writes the three as one unit, see OutFrame.meta); for kinds the receivers sync, the
   * notification alone; with the store off (no entry), the message alone.
   */
  #unit(m: Outgoing, it: SaveItem, s: Saved | undefined, superGroup: boolean, self: boolean): OutFrame {
    const gid = it.kind === QueueKind.GROUP ? it.owner : 0;
    if (s !== undefined && m.kind.tell === Tell.NOTIFY) {
      return gid !== 0
        ? outFrame(Cmd.SYNC_GROUP_NOTIFY, 0, encodeBody(codecs.SYNC_GROUP_NOTIFY, { group_id: gid, sync_key: s.key }, 2))
        : outFrame(Cmd.SYNC_NOTIFY, 0, encodeBody(codecs.SYNC_NOTIFY, { sync_key: s.key }, 2));
    }
    const flag = m.flag | Flag.PUSH | (self ? Flag.SELF : 0) | (superGroup && m.kind.markSuper ? Flag.SUPER_GROUP : 0);
    return outFrame(m.kind.cmd, flag, m.body, s && { key: s.key, prev: s.prev, notify: true, gid });
  }

  /** The message alone, as offline push and the store-off relay carry it. */
  #plain(m: Outgoing, superGroup: boolean): OutFrame {
    return outFrame(m.kind.cmd, m.flag | Flag.PUSH | (superGroup && m.kind.markSuper ? Flag.SUPER_GROUP : 0), m.body);
  }

  #failed(m: Outgoing, err: unknown): void {
    this.#stats.storeFailures++;
    const c = m.from;
    this.#log.warn({ err: (err as Error).message, conn: c?.id, uid: c?.uid }, `${m.kind.name}: the store failed; not delivered, not acknowledged`);
    if (c === null) throw err;
  }
}

/**
 * The queue entries a message makes, in the order they are saved (the receiver's first),
 * and which one the sender's ACK names (-1: none): its own copy, or the one queue it shares.
 */
function queueEntries(m: Outgoing, stored: boolean): { items: SaveItem[]; own: number } {
  const to = m.to;
  const entry = (appid: number, kind: QueueKind, owner: number): SaveItem => ({ appid, kind, owner, deviceId: m.deviceNo, cmd: m.kind.cmd, body: m.body });
  if ('user' in to) {
    const items = [entry(to.appid, QueueKind.USER, to.user)];
    const toSelf = to.appid === m.appid && to.user === m.sender;
    if (m.kind.senderCopy && !toSelf) items.push(entry(m.appid, QueueKind.USER, m.sender));
    return { items, own: items.length === 2 ? 1 : toSelf ? 0 : -1 };
  }
  if ('users' in to) return { items: to.users.map((uid) => entry(m.appid, QueueKind.USER, uid)), own: to.users.indexOf(m.sender) };
  const g = to.group;
  // Stored once for all (a super group), or not at all: every shard and server resolves the members.
  if (g.super || !stored) return { items: [entry(g.appid, QueueKind.GROUP, g.id)], own: 0 };
  const members = [...g.members.keys()];
  return { items: members.map((uid) => entry(g.appid, QueueKind.USER, uid)), own: members.indexOf(m.sender) };
}

/** The sender's ACK, preceded by METADATA of its own copy when the message was stored. */
function ackFrame(seq: number, version: number, status: number, flag: number, own: Saved | undefined): OutFrame {
  const a = ack(seq, version, status, flag);
  if (own !== undefined) a.meta = { key: own.key, prev: own.prev, notify: false, gid: 0 };
  return a;
}
