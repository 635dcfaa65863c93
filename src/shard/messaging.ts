import {
  Cmd, Flag, ProtocolError, codecs, encodeBody, fromV0Body, outFrame, readI64, setTimestamp,
  type Frame, type Meta, type OutFrame,
} from '../protocol/index.ts';
import type { Group } from '../groups/source.ts';
import type { Logger } from '../log/logger.ts';
import type { StoreClient } from '../store/client.ts';
import { QueueKind, type SaveItem, type Saved, type StoredMessage } from '../store/types.ts';
import type { Connection } from './connection.ts';
import { ack } from './replies.ts';
import type { Routing } from './routing.ts';
import type { ShardStats } from './stats.ts';
import { SyncTurns } from './sync-turns.ts';
import { MAX_WAITING_SYNCS } from '../config/limits.ts';

const SYNC = codecs.SYNC.forVersion(2);
const SYNC_GROUP = codecs.SYNC_GROUP.forVersion(2);
const CUSTOMER = codecs.CUSTOMER_V2.forVersion(2);

export interface MessagingOptions {
  routing: Routing;
  /** null: IM_STORE=off, a pure relay (no METADATA, empty syncs). */
  store: StoreClient | null;
  stats: ShardStats;
  log: Logger;
  syncLimit: number;
  syncHardLimit: number;
  groupSyncLimit: number;
  kefuAppid: number;
}

const seconds = () => Math.floor(Date.now() / 1000);
const meta = (s: Saved, notify: boolean, gid = 0): Meta => ({ key: s.key, prev: s.prev, notify, gid });
const user = (appid: number, uid: number) => ({ appid, kind: QueueKind.USER, owner: uid });

/**
 * Stored messages on a shard: "save, then METADATA, deliver, notify" (docs/store.md, "Queues and keys") for
 * every message kind the store keeps, and the sync requests that read them back. Delivery
 * itself is the routing pipeline's; a message whose save fails is neither delivered nor
 * acknowledged (the client sends it again).
 */
export class Messaging {
  readonly #routing: Routing;
  readonly #store: StoreClient | null;
  readonly #stats: ShardStats;
  readonly #log: Logger;
  readonly #turns = new SyncTurns();
  readonly #o: MessagingOptions;

  constructor(o: MessagingOptions) {
    this.#routing = o.routing;
    this.#store = o.store;
    this.#stats = o.stats;
    this.#log = o.log;
    this.#o = o;
  }

  /** Saves, or with the store off pretends to (no keys). Rejects when the store fails. */
  async #save(items: SaveItem[]): Promise<(Saved | undefined)[]> {
    if (this.#store === null) return items.map(() => undefined);
    return this.#store.call({ op: 'save', items });
  }

  /**
   * A client's save, weighed against what one client may have waiting for the store
   * (Connection.saving) until it settles.
   */
  #saveFrom(c: Connection | null, bytes: number, items: SaveItem[]): Promise<(Saved | undefined)[]> {
    const p = this.#save(items);
    if (c === null || this.#store === null) return p;
    c.saving(bytes);
    const settled = () => c.saved(bytes);
    p.then(settled, settled);
    return p;
  }

  #failed(what: string, err: unknown, c?: Connection): void {
    this.#stats.storeFailures++;
    this.#log.warn({ err: (err as Error).message, conn: c?.id, uid: c?.uid }, `${what}: the store failed; not delivered, not acknowledged`);
  }

  /** IM from a client: the receiver's queue, then the sender's; ACK after both are saved. */
  peer(c: Connection, f: Frame, receiver: number): void {
    const store = this.#store;
    // With a store the body outlives the read chunk (await): its own copy. Either way in the
    // v2 layout, stamped now.
    const body = f.version === 0 ? fromV0Body(f.body) : store === null ? f.body : Buffer.from(f.body);
    setTimestamp(body, Cmd.IM, seconds());
    // A pure relay delivers in the turn the message arrived.
    if (store === null) return this.#deliverIM(c, f, receiver, body, undefined, undefined);
    const items: SaveItem[] = [{ ...user(c.appid, receiver), deviceId: c.deviceNo, cmd: Cmd.IM, body }];
    if (receiver !== c.uid) items.push({ ...user(c.appid, c.uid), deviceId: c.deviceNo, cmd: Cmd.IM, body });
    this.#saveFrom(c, body.length, items).then(c.later(Cmd.IM, ([toR, toS]) => this.#deliverIM(c, f, receiver, body, toR, toS)), (err: unknown) => this.#failed('IM', err, c));
  }

  /** A peer IM to the receiver's queue and the sender's other devices, then its ACK. */
  #deliverIM(c: Connection, f: Frame, receiver: number, body: Buffer, toR: Saved | undefined, toS: Saved | undefined): void {
    const self = receiver === c.uid;
    const out = outFrame(Cmd.IM, f.flag | Flag.PUSH, body, toR && meta(toR, true));
    this.#routing.toUser(c.appid, receiver, out, { exclude: self ? c : null, push: out });
    if (!self) this.#routing.toUser(c.appid, c.uid, outFrame(Cmd.IM, f.flag | Flag.PUSH | Flag.SELF, body, toS && meta(toS, true)), { exclude: c });
    c.send(ackFrame(f.seq, c.version, 0, 0, self ? toR : toS));
  }

  /** CUSTOMER_V2 from a client: one side must be the customer-service app. */
  customer(c: Connection, f: Frame): void {
    const m = CUSTOMER.decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    if (m.sender !== c.uid || m.sender_appid !== c.appid) return void this.#stats.spoofed++;
    const kefu = this.#o.kefuAppid;
    if (kefu === 0 || (m.sender_appid !== kefu && m.receiver_appid !== kefu)) {
      this.#stats.refused++;
      return this.#log.debug({ conn: c.id, uid: c.uid }, 'CUSTOMER_V2 dropped: neither side is the customer-service app (IM_KEFU_APPID)');
    }
    this.#stats.messagesIn++;
    const body = Buffer.from(f.body);
    setTimestamp(body, Cmd.CUSTOMER_V2, seconds());
    this.#saveFrom(c, body.length, [
      { ...user(m.receiver_appid, m.receiver), deviceId: c.deviceNo, cmd: Cmd.CUSTOMER_V2, body },
      { ...user(c.appid, c.uid), deviceId: c.deviceNo, cmd: Cmd.CUSTOMER_V2, body },
    ]).then(c.later(Cmd.CUSTOMER_V2, ([toR, toS]) => {
      const out = outFrame(Cmd.CUSTOMER_V2, f.flag | Flag.PUSH, body, toR && meta(toR, true));
      this.#routing.toUser(m.receiver_appid, m.receiver, out, { push: out });
      this.#routing.toUser(c.appid, c.uid, outFrame(Cmd.CUSTOMER_V2, f.flag | Flag.PUSH | Flag.SELF, body, toS && meta(toS, true)), { exclude: c });
      c.send(ackFrame(f.seq, c.version, 0, 0, toS));
    }), (err: unknown) => this.#failed('CUSTOMER_V2', err, c));
  }

  /**
   * A group message (client or HTTP API; the sender is a member, not muted). Normal group:
   * every member's own queue; super group: the group's queue, once. Resolves with the
   * sender's copy, for its ACK.
   */
  async group(g: Group, sender: number, deviceNo: number, body: Buffer, flag: number, exclude: Connection | null): Promise<Saved | undefined> {
    const cmd = Cmd.GROUP_IM;
    const sflag = flag | Flag.PUSH | (g.super ? Flag.SUPER_GROUP : 0);
    if (g.super || this.#store === null) {
      const [s] = await this.#saveFrom(exclude, body.length, [{ appid: g.appid, kind: QueueKind.GROUP, owner: g.id, deviceId: deviceNo, cmd, body }]);
      const out = outFrame(cmd, sflag, body, s && meta(s, true, g.id));
      this.#routing.toGroup(g, out, sender, { exclude, push: out });
      return s;
    }
    const members = [...g.members.keys()];
    // Saved once per member: it weighs that much.
    const saved = await this.#saveFrom(exclude, body.length * members.length, members.map((uid) => ({ ...user(g.appid, uid), deviceId: deviceNo, cmd, body })));
    let own: Saved | undefined;
    const frames = members.map((uid, i) => {
      const s = saved[i]!;
      if (uid === sender) own = s;
      return outFrame(cmd, sflag, body, meta(s, true));
    });
    this.#routing.toEach(g.appid, members, frames, exclude);
    this.#routing.pushOffline(g, sender, outFrame(cmd, sflag, body));
    return own;
  }

  /** SYNC(k): one page of the user's queue after k (docs/store.md, "Sync"). */
  sync(c: Connection, f: Frame): void {
    const m = SYNC.decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    const store = this.#store;
    if (store === null) return emptySync(c, f.body.subarray(0, 8), Cmd.SYNC_BEGIN, Cmd.SYNC_END);
    const q = user(c.appid, c.uid);
    this.#inTurn(c, 'sync', (done) => (async () => {
      const from = m.sync_key > 0 ? m.sync_key : await store.call({ op: 'acked', appid: c.appid, uid: c.uid, gid: 0 });
      const hard = this.#o.syncHardLimit;
      // A backlog past the hard limit: only its newest `hard` messages are offered. Counted
      // in messages, not keys: imported keys (ims message ids) are far apart.
      const skipTo = hard > 0 ? await store.call({ op: 'nthNewest', q, after: from, n: hard + 1 }) : 0;
      const page = await store.call({ op: 'page', q, after: Math.max(from, skipTo), limit: this.#o.syncLimit });
      return { from, page };
    })().then(c.later(Cmd.SYNC, ({ from, page }) => {
      const k = (b: number) => encodeBody(codecs.SYNC_BEGIN, { sync_key: b }, 2);
      c.send(keep(Cmd.SYNC_BEGIN, k(m.sync_key)));
      for (const msg of page.messages) c.send(this.#synced(c, msg));
      const last = page.messages.at(-1)?.key ?? (page.newest > 0 && page.newest < from ? page.newest : from);
      c.send(keep(Cmd.SYNC_END, k(last)));
      if (page.more) c.send(keep(Cmd.SYNC_NOTIFY, k(last + 1)));
      done();
    }), (err: unknown) => {
      this.#failed('SYNC', err, c);
      done();
    }));
  }

  /** A sync reply in its turn (SyncTurns); a client with too many waiting is cut off. */
  #inTurn(c: Connection, key: string, reply: (done: () => void) => void): void {
    if (this.#turns.run(c, key, reply) || !c.cutOff()) return;
    this.#stats.slowDisconnects++;
    this.#log.warn({ conn: c.id, uid: c.uid, appid: c.appid, waiting: MAX_WAITING_SYNCS },
      'slow consumer: more sync requests waiting than MAX_WAITING_SYNCS for a client that does not read its replies; disconnecting it');
  }

  /** SYNC_GROUP(gid, k): the newest messages of a super group after k (docs/store.md, "Sync"). */
  syncGroup(c: Connection, f: Frame, load: (appid: number, gid: number) => Promise<Group | null>): void {
    const m = SYNC_GROUP.decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    const store = this.#store;
    const key = f.body.subarray(0, 16);
    if (store === null) return emptySync(c, key, Cmd.SYNC_GROUP_BEGIN, Cmd.SYNC_GROUP_END);
    this.#inTurn(c, `group:${m.group_id}`, (done) => (async () => {
      const g = await load(c.appid, m.group_id);
      if (g === null || !g.members.has(c.uid)) return null; // no reply, as the reference
      if (!g.super) return { from: m.sync_key, page: { messages: [], newest: 0, more: false } };
      const from = m.sync_key > 0 ? m.sync_key : await store.call({ op: 'acked', appid: c.appid, uid: c.uid, gid: g.id });
      const q = { appid: c.appid, kind: QueueKind.GROUP, owner: g.id };
      return { from, page: await store.call({ op: 'newestPage', q, after: from, limit: this.#o.groupSyncLimit }) };
    })().then(c.later(Cmd.SYNC_GROUP, (r) => {
      if (r === null) return done();
      const k = (b: number) => encodeBody(codecs.SYNC_GROUP_BEGIN, { group_id: m.group_id, sync_key: b }, 2);
      c.send(keep(Cmd.SYNC_GROUP_BEGIN, k(m.sync_key)));
      for (const msg of r.page.messages) c.send(this.#synced(c, msg));
      const last = r.page.messages.at(-1)?.key ?? (r.page.newest > 0 && r.page.newest < r.from ? r.page.newest : r.from);
      c.send(keep(Cmd.SYNC_GROUP_END, k(last)));
      done();
    }), (err: unknown) => {
      this.#failed('SYNC_GROUP', err, c);
      done();
    }));
  }

  /** SYNC_KEY / GROUP_SYNC_KEY: the key a device acknowledged (kept if greater), for key-0 syncs. */
  acknowledge(c: Connection, gid: number, key: number): void {
    if (this.#store === null || key <= 0) return;
    this.#store.call({ op: 'ack', appid: c.appid, uid: c.uid, gid, key }).catch((err: unknown) => this.#failed('SYNC_KEY', err, c));
  }

  /**
   * A message the HTTP API posts into users' queues (peer, customer, system, group
   * notification): saved, then each receiver is told SYNC_NOTIFY only (docs/store.md, "What is stored, and where").
   * `push` goes through offline push to `push.to`. With the store off, each receiver gets
   * the message itself instead: `relay[i]` for item i (default: the message with PUSH).
   */
  async posted(items: SaveItem[], o: { push?: { frame: OutFrame; to: number[] }; relay?: OutFrame[] } = {}): Promise<void> {
    const saved = await this.#save(items);
    const first = items[0];
    if (first !== undefined && saved[0] === undefined && o.relay === undefined && items.every((it) => it.appid === first.appid && it.cmd === first.cmd && it.body === first.body)) {
      // The store off, one message to many (system, group notification): one frame for all.
      const f = outFrame(first.cmd, Flag.PUSH, Buffer.from(first.body));
      this.#routing.toEach(first.appid, items.map((it) => it.owner), items.map(() => f), null);
    } else {
      items.forEach((it, i) => {
        const s = saved[i];
        const f = s === undefined
          ? o.relay?.[i] ?? outFrame(it.cmd, Flag.PUSH, Buffer.from(it.body))
          : outFrame(Cmd.SYNC_NOTIFY, 0, encodeBody(codecs.SYNC_NOTIFY, { sync_key: s.key }, 2));
        this.#routing.toUser(it.appid, it.owner, f);
      });
    }
    if (o.push !== undefined && first !== undefined) this.#routing.pushTo(first.appid, o.push.to, o.push.frame);
  }

  /** A notification posted to a super group: the group's queue, SYNC_GROUP_NOTIFY to its members. */
  async postedToGroup(g: Group, cmd: number, body: Buffer): Promise<void> {
    const [s] = await this.#save([{ appid: g.appid, kind: QueueKind.GROUP, owner: g.id, deviceId: 0, cmd, body }]);
    if (s === undefined) return this.#routing.toGroup(g, outFrame(cmd, Flag.PUSH, body), 0);
    this.#routing.toGroup(g, outFrame(Cmd.SYNC_GROUP_NOTIFY, 0, encodeBody(codecs.SYNC_GROUP_NOTIFY, { group_id: g.id, sync_key: s.key }, 2)), 0);
  }

  /** A stored message as a sync returns it: flag 0, or SELF on the device that sent it. */
  #synced(c: Connection, m: StoredMessage): OutFrame {
    const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    let self = false;
    if (m.deviceId !== 0 && m.deviceId === c.deviceNo) {
      if (m.cmd === Cmd.IM || m.cmd === Cmd.GROUP_IM) self = readI64(body, 0) === c.uid;
      else if (m.cmd === Cmd.CUSTOMER_V2) self = readI64(body, 0) === c.appid && readI64(body, 8) === c.uid;
    }
    return { cmd: m.cmd, flag: self ? Flag.SELF : 0, body, keep: true };
  }
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

/** The sender's ACK, preceded by METADATA of its own copy when the message was stored. */
export function ackFrame(seq: number, version: number, status: number, flag: number, own: Saved | undefined): OutFrame {
  const a = ack(seq, version, status, flag);
  if (own !== undefined) a.meta = { key: own.key, prev: own.prev, notify: false, gid: 0 };
  return a;
}
