import type { MessagePort } from 'node:worker_threads';
import { Kind, type SubscriberTable } from '../subscribers/index.ts';
import type { AppRoute } from '../route/index.ts';
import type { OutFrame } from '../protocol/index.ts';
import { Backlog, type LinkEnd } from '../threads/backlog.ts';
import { PortBatcher } from '../threads/batcher.ts';
import { Outlet } from '../threads/turn.ts';
import { HANDOFF_BACKLOG_MAX } from '../config/limits.ts';
import { HandoffKind, readHandoffs, writeHandoff, type HandoffVisitor } from '../threads/handoff.ts';
import { PackedReader } from '../threads/packed.ts';
import type { Group } from '../groups/source.ts';
import type { Connection } from './connection.ts';

/** How a shard finds a group's members (ShardGroups): in this turn when cached, else once loaded. */
export interface GroupLookup {
  withGroup(appid: number, gid: number, then: (g: Group | null) => void): void;
}

/**
 * Delivery to (appid, uid) and (appid, room) across the shards of this server: this shard's
 * own connections first, then a hand-off to every other shard the subscriber table names,
 * batched per destination and turn (PortBatcher). A hand-off to a shard that is more than
 * HANDOFF_BACKLOG_MAX behind sets `crowded`: the shard then holds back the client whose
 * frame it was (Shard.onFrame) until every peer has caught up to half of it.
 */
export class Delivery implements HandoffVisitor {
  readonly #me: number;
  readonly #table: SubscriberTable;
  readonly #routes: AppRoute<Connection>;
  readonly #peers: PortBatcher;
  readonly #shardCount: number;
  readonly #shards: number[] = [];
  /** Group messages from other threads: each shard resolves the members itself. */
  readonly #groups: GroupLookup;
  /** A hand-off since this was last cleared went to a peer over HANDOFF_BACKLOG_MAX behind. */
  crowded = false;
  handoffsOut = 0;
  handoffsIn = 0;
  delivered = 0;

  constructor(me: number, table: SubscriberTable, routes: AppRoute<Connection>, peers: (LinkEnd | undefined)[], groups: GroupLookup) {
    this.#me = me;
    this.#groups = groups;
    this.#table = table;
    this.#routes = routes;
    this.#shardCount = peers.length;
    this.#peers = new PortBatcher(Outlet.PEERS, peers.map((p) => p?.port), peers.map((p) => p && new Backlog(p.out)));
    peers.forEach((p, i) => p !== undefined && this.#link(i, p));
  }

  /** A restarted shard's new link replaces the old one (and its backlog, with what the dead one never took). */
  setPeer(index: number, link: LinkEnd): void {
    this.#peers.setPort(index, link.port, new Backlog(link.out));
    this.#link(index, link);
  }

  #link(index: number, link: LinkEnd): void {
    this.listen(link.port, new Backlog(link.in));
    // A shard that died takes nothing more: what it never took must not hold clients back
    // until its replacement is wired (or for good, if it is not replaced).
    link.port.once('close', () => this.#peers.forgetBacklog(index, link.port));
  }

  /** Takes hand-offs from another thread (a shard, or the Channel thread), counting them handled in `backlog`. */
  listen(port: MessagePort, backlog?: Backlog): void {
    port.on('message', (ab: ArrayBuffer) => {
      try {
        readHandoffs(new PackedReader(ab), this);
      } finally {
        backlog?.taken(ab.byteLength);
      }
    });
  }

  /** Every peer is at most half of HANDOFF_BACKLOG_MAX behind: clients held back may go on. */
  caughtUp(): boolean {
    for (let s = 0; s < this.#shardCount; s++) if (s !== this.#me && this.#peers.behind(s) > HANDOFF_BACKLOG_MAX / 2) return false;
    return true;
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

  /** A group's members on this shard only. */
  localGroup(g: Group, f: OutFrame, exclude: Connection | null): void {
    for (const uid of g.members.keys()) this.localUser(g.appid, uid, f, exclude);
  }

  /** A group message for every other shard to deliver to its own members. */
  toOtherShards(appid: number, gid: number, f: OutFrame): void {
    for (let s = 0; s < this.#shardCount; s++) {
      if (s === this.#me || !this.#peers.has(s)) continue;
      this.#write(s, HandoffKind.GROUP, appid, gid, f);
    }
  }

  handoff(kind: number, appid: number, id: number, f: OutFrame): void {
    this.handoffsIn++;
    if (kind === HandoffKind.USER) this.localUser(appid, id, f, null);
    else if (kind === HandoffKind.ROOM) this.localRoom(appid, id, f, null);
    else this.#groups.withGroup(appid, id, (g) => { if (g !== null) this.localGroup(g, f, null); });
  }

  #handOff(kind: Kind, appid: number, id: number, f: OutFrame): void {
    const n = this.#table.shards(kind, appid, id, this.#shards);
    for (let i = 0; i < n; i++) {
      const s = this.#shards[i]!;
      if (s === this.#me || !this.#peers.has(s)) continue;
      this.#write(s, kind, appid, id, f);
    }
  }

  #write(s: number, kind: number, appid: number, id: number, f: OutFrame): void {
    writeHandoff(this.#peers.to(s), kind, appid, id, f);
    this.handoffsOut++;
    if (this.#peers.behind(s) > HANDOFF_BACKLOG_MAX) this.crowded = true;
  }
}
