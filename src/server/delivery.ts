import type { MessagePort } from 'node:worker_threads';
import { Kind, type SubscriberTable } from '../subscribers/index.ts';
import type { AppRoute } from '../route/index.ts';
import type { Connection } from './connection.ts';
import { HandoffKind, HandoffWriter, readHandoff } from './handoff.ts';
import { outFrame, type OutFrame } from './out-frame.ts';

/**
 * Delivery to (appid, uid) and (appid, room) across the shards of this server: this shard's
 * own connections first, then a hand-off to every other shard the subscriber table names.
 * Hand-offs are packed per destination and sent once per turn: at most one wake-up per
 * destination shard per turn, however many messages.
 */
export class Delivery {
  readonly #me: number;
  readonly #table: SubscriberTable;
  readonly #routes: AppRoute<Connection>;
  readonly #peers: (MessagePort | undefined)[];
  readonly #writers: HandoffWriter[];
  readonly #shards: number[] = [];
  #scheduled = false;
  /** Group messages from the router (PUBLISH_GROUP): each shard resolves the members itself. */
  onGroup: (appid: number, gid: number, f: OutFrame) => void = () => {};
  handoffsOut = 0;
  handoffsIn = 0;
  delivered = 0;

  constructor(me: number, table: SubscriberTable, routes: AppRoute<Connection>, peers: (MessagePort | undefined)[]) {
    this.#me = me;
    this.#table = table;
    this.#routes = routes;
    this.#peers = peers;
    this.#writers = peers.map(() => new HandoffWriter());
    for (const port of peers) if (port !== undefined) this.listen(port);
  }

  /** A restarted shard's new port replaces the old one. */
  setPeer(index: number, port: MessagePort): void {
    this.#peers[index]?.close();
    this.#peers[index] = port;
    this.#writers[index] ??= new HandoffWriter();
    this.listen(port);
  }

  /** Takes hand-offs from another thread (a shard, or the Channel thread). */
  listen(port: MessagePort): void {
    port.on('message', (ab: ArrayBuffer) => this.#receive(ab));
  }

  /** To every connection of the user on this server except `exclude`. */
  toUser(appid: number, uid: number, f: OutFrame, exclude: Connection | null): void {
    this.localUser(appid, uid, f, exclude);
    this.#handOff(Kind.USER, appid, uid, f);
  }

  toRoom(appid: number, room: number, f: OutFrame, exclude: Connection | null): void {
    this.localRoom(appid, room, f, exclude);
    this.#handOff(Kind.ROOM, appid, room, f);
  }

  localUser(appid: number, uid: number, f: OutFrame, exclude: Connection | null): void {
    const set = this.#routes.findRoute(appid)?.findClientSet(uid);
    if (set !== undefined) for (const c of set) if (c !== exclude) { c.send(f); this.delivered++; }
  }

  localRoom(appid: number, room: number, f: OutFrame, exclude: Connection | null): void {
    const set = this.#routes.findRoute(appid)?.findRoomClientSet(room);
    if (set !== undefined) for (const c of set) if (c !== exclude) { c.send(f); this.delivered++; }
  }

  /** A group message for every other shard to deliver to its own members. */
  toAllShards(appid: number, gid: number, f: OutFrame): void {
    this.#peers.forEach((port, s) => {
      if (port === undefined || s === this.#me) return;
      this.#writers[s]!.add(HandoffKind.GROUP, f.cmd, f.flag, appid, gid, f.body);
      this.handoffsOut++;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  #handOff(kind: Kind, appid: number, id: number, f: OutFrame): void {
    const n = this.#table.shards(kind, appid, id, this.#shards);
    for (let i = 0; i < n; i++) {
      const s = this.#shards[i]!;
      if (s === this.#me || this.#peers[s] === undefined) continue;
      this.#writers[s]!.add(kind, f.cmd, f.flag, appid, id, f.body);
      this.handoffsOut++;
      this.#schedule();
    }
  }

  flush(): void {
    this.#scheduled = false;
    this.#writers.forEach((w, s) => {
      const ab = w.take();
      if (ab !== null) this.#peers[s]!.postMessage(ab, [ab]);
    });
  }

  #receive(ab: ArrayBuffer): void {
    readHandoff(ab, (kind, cmd, flag, appid, id, body) => {
      this.handoffsIn++;
      const f = outFrame(cmd, flag, body);
      if (kind === HandoffKind.USER) this.localUser(appid, id, f, null);
      else if (kind === HandoffKind.ROOM) this.localRoom(appid, id, f, null);
      else this.onGroup(appid, id, f);
    });
  }
}
