import { AppRoute, Removed } from '../route/index.ts';
import {
  SubscriberTableError, onRoomAdded, onRoomRemoved, onUserAdded, onUserRemoved, type Ledger, type SubscriberTable,
} from '../subscribers/index.ts';
import type { ChannelSink } from '../threads/channel-port.ts';
import type { Logger } from '../log/logger.ts';
import type { Connection } from './connection.ts';
import type { ShardStats } from './stats.ts';

/**
 * A shard's counts in the shared subscriber table, mirrored in a table of its own (the
 * ledger, written by that shard only). When a shard dies, its ledger says exactly what it
 * held, so the main thread can take its share out of the shared table.
 */
export class CountingTable {
  readonly #table: SubscriberTable;
  readonly #ledger: Ledger;
  readonly #shard: number;

  constructor(table: SubscriberTable, ledger: Ledger, shard: number) {
    this.#table = table;
    this.#ledger = ledger;
    this.#shard = shard;
  }

  addUser(appid: number, uid: number, online: boolean, firstOnShard: boolean): number {
    const prev = this.#table.addUser(appid, uid, online, this.#shard, firstOnShard);
    this.#ledger.addUser(appid, uid, online);
    return prev;
  }

  removeUser(appid: number, uid: number, online: boolean, lastOnShard: boolean): number {
    const prev = this.#table.removeUser(appid, uid, online, this.#shard, lastOnShard);
    this.#ledger.removeUser(appid, uid, online);
    return prev;
  }

  addRoomMember(appid: number, room: number, firstOnShard: boolean): number {
    const prev = this.#table.addRoomMember(appid, room, this.#shard, firstOnShard);
    this.#ledger.addRoomMember(appid, room);
    return prev;
  }

  removeRoomMember(appid: number, room: number, lastOnShard: boolean): number {
    const prev = this.#table.removeRoomMember(appid, room, this.#shard, lastOnShard);
    this.#ledger.removeRoomMember(appid, room);
    return prev;
  }
}

/**
 * Who is here: logins and room membership of this shard's connections, kept in step in
 * three places (the shard's Routes, the shared table with this shard's ledger, and the
 * routers through the Channel's transitions).
 */
export class Presence {
  readonly routes: AppRoute<Connection>;
  readonly #counts: CountingTable;
  readonly #channel: () => ChannelSink;
  readonly #stats: ShardStats;
  readonly #log: Logger;

  constructor(routes: AppRoute<Connection>, counts: CountingTable, channel: () => ChannelSink, stats: ShardStats, log: Logger) {
    this.routes = routes;
    this.#counts = counts;
    this.#channel = channel;
    this.#stats = stats;
    this.#log = log;
  }

  /** A fresh login; false when the subscriber table refuses it. */
  register(c: Connection): boolean {
    const route = this.routes.findOrAddRoute(c.appid);
    const fresh = route.addClient(c);
    let prev: number;
    try {
      prev = this.#counts.addUser(c.appid, c.uid, c.online, fresh);
    } catch (err) {
      if (!(err instanceof SubscriberTableError)) throw err;
      route.removeClient(c);
      this.#log.warn({ uid: c.uid, appid: c.appid, code: err.code, err: err.message }, 'login refused by the subscriber table');
      return false;
    }
    this.#channel().transition(onUserAdded(prev, c.online), c.appid, c.uid);
    return true;
  }

  unregister(c: Connection): void {
    if (c.room !== undefined) this.leaveRoom(c, c.room);
    const r = this.routes.findRoute(c.appid)?.removeClient(c) ?? Removed.NOT_FOUND;
    if (r === Removed.NOT_FOUND) return;
    const prev = this.#counts.removeUser(c.appid, c.uid, c.online, r === Removed.EMPTIED);
    this.#channel().transition(onUserRemoved(prev, c.online), c.appid, c.uid);
    this.routes.dropIfEmpty(c.appid);
  }

  enterRoom(c: Connection, room: number): void {
    if (c.room === room) return;
    if (c.room !== undefined) this.leaveRoom(c, c.room);
    const route = this.routes.findOrAddRoute(c.appid);
    const [fresh, evicted] = route.addRoomClient(room, c);
    try {
      this.#channel().transition(onRoomAdded(this.#counts.addRoomMember(c.appid, room, fresh)), c.appid, room);
    } catch (err) {
      if (!(err instanceof SubscriberTableError)) throw err;
      route.removeRoomClient(room, c);
      this.#stats.roomRefusedFull++;
      this.#log.warn({ uid: c.uid, appid: c.appid, room, code: err.code }, 'room enter refused: subscriber table full');
      return;
    }
    c.room = room;
    if (evicted !== undefined) {
      evicted.room = undefined;
      this.#channel().transition(onRoomRemoved(this.#counts.removeRoomMember(c.appid, room, false)), c.appid, room);
    }
  }

  leaveRoom(c: Connection, room: number): void {
    if (c.room !== room) return;
    c.room = undefined;
    const r = this.routes.findRoute(c.appid)?.removeRoomClient(room, c) ?? Removed.NOT_FOUND;
    if (r === Removed.NOT_FOUND) return;
    const prev = this.#counts.removeRoomMember(c.appid, room, r === Removed.EMPTIED);
    this.#channel().transition(onRoomRemoved(prev), c.appid, room);
  }
}
