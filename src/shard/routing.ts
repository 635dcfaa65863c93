import { Cmd, type OutFrame } from '../protocol/index.ts';
import type { SubscriberTable } from '../subscribers/index.ts';
import type { Group } from '../groups/source.ts';
import type { ChannelSink } from '../threads/channel-port.ts';
import type { Connection } from './connection.ts';
import type { Delivery } from './delivery.ts';

export interface SendOptions {
  /** The sending connection: never written back to it. */
  exclude?: Connection | null;
  /** Offline push (through the router) for a receiver online nowhere: this frame. */
  push?: OutFrame;
}

/**
 * The one message pipeline of a shard: every message, whoever sent it (a client, the HTTP
 * API, a group), reaches its receivers here, in the same steps: this shard's connections,
 * the other shards of this server (hand-off), the other servers (the Channel, when routers
 * are linked), and offline push for receivers online nowhere.
 */
export class Routing {
  readonly #delivery: Delivery;
  readonly #table: SubscriberTable;
  readonly #channel: () => ChannelSink;

  constructor(delivery: Delivery, table: SubscriberTable, channel: () => ChannelSink) {
    this.#delivery = delivery;
    this.#table = table;
    this.#channel = channel;
  }

  toUser(appid: number, uid: number, f: OutFrame, o: SendOptions = {}): void {
    this.#delivery.toUser(appid, uid, f, o.exclude ?? null);
    const ch = this.#channel();
    // A stored message's key travels as the route message's msgid (docs/store.md, "Queues and keys").
    if (ch.linked) ch.publish(Cmd.PUBLISH, appid, uid, f.meta?.key ?? 0, f);
    if (o.push !== undefined && !this.#table.isUserOnline(appid, uid)) ch.push(appid, [uid], o.push);
  }

  /**
   * One message to many users, each in its own frame (its own queue key, same body): here,
   * and to the other servers as one hand-over, not one copy of the body per user.
   */
  toEach(appid: number, uids: readonly number[], frames: readonly OutFrame[], exclude: Connection | null): void {
    for (let i = 0; i < uids.length; i++) this.#delivery.toUser(appid, uids[i]!, frames[i]!, exclude);
    const ch = this.#channel();
    if (ch.linked && uids.length > 0) ch.publishEach(appid, uids, frames.map((f) => f.meta?.key ?? 0), frames[0]!);
  }

  /** Offline push to each of the users online nowhere here, as one hand-over. */
  pushTo(appid: number, uids: readonly number[], f: OutFrame): void {
    const offline = uids.filter((uid) => !this.#table.isUserOnline(appid, uid));
    if (offline.length > 0) this.#channel().push(appid, offline, f);
  }

  toRoom(appid: number, room: number, f: OutFrame, exclude: Connection | null = null): void {
    this.#delivery.toRoom(appid, room, f, exclude);
    const ch = this.#channel();
    if (ch.linked) ch.publish(Cmd.PUBLISH_ROOM, appid, room, 0, f);
  }

  /**
   * To every member of a group. Here, the members' connections on this shard, and one GROUP
   * hand-off to each other shard, which resolves the members itself: nothing is allocated
   * per member. Elsewhere, a super group is one PUBLISH_GROUP that every server fans out;
   * a normal group is published to each member's router (one hand-over to the Channel).
   * Offline push for the members online nowhere, but the sender.
   */
  toGroup(g: Group, f: OutFrame, sender: number, o: SendOptions = {}): void {
    this.#delivery.localGroup(g, f, o.exclude ?? null);
    this.#delivery.toOtherShards(g.appid, g.id, f);
    const ch = this.#channel();
    if (ch.linked) {
      if (g.super) ch.publish(Cmd.PUBLISH_GROUP, g.appid, g.id, f.meta?.key ?? 0, f);
      else ch.publishEach(g.appid, [...g.members.keys()], new Array<number>(g.members.size).fill(0), f);
    }
    if (o.push !== undefined) this.pushOffline(g, sender, o.push);
  }

  /** Offline push of a group message to the members online nowhere, but the sender. */
  pushOffline(g: Group, sender: number, f: OutFrame): void {
    const offline: number[] = [];
    for (const uid of g.members.keys()) if (uid !== sender && !this.#table.isUserOnline(g.appid, uid)) offline.push(uid);
    if (offline.length > 0) this.#channel().push(g.appid, offline, f);
  }

}
