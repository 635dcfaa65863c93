import { Disconnect, type DisconnectReason } from './disconnect.ts';
import type net from 'node:net';
import type { LinkEnd } from '../threads/backlog.ts';
import { CLIENT_CMDS, FrameDecoder, type Frame, type ProtocolError, type TransportKind } from '../protocol/index.ts';
import { AppRoute } from '../route/index.ts';
import type { Ledger, SubscriberTable } from '../subscribers/index.ts';
import type { Authenticator } from '../auth/auth.ts';
import type { ChannelSink } from '../threads/channel-port.ts';
import type { ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import { GroupCache } from '../groups/cache.ts';
import type { Group } from '../groups/source.ts';
import { Connection, type ConnectionOwner, type QueueLimits } from './connection.ts';
import { WriteArena } from './write-arena.ts';
import { Outlet, atEndOfTurn } from '../threads/turn.ts';
import type { PostRequest } from './control.ts';
import { Delivery } from './delivery.ts';
import { dispatch, type DispatchContext } from './dispatch.ts';
import { ShardGroups } from './groups.ts';
import { inject } from './inject.ts';
import { MessagePath } from './message-path.ts';
import type { StoreClient } from '../store/client.ts';
import { CountingTable, Presence } from './presence.ts';
import { Routing } from './routing.ts';
import { Sync } from './sync.ts';
import { emptyShardStats, type ShardReport, type ShardStats } from './stats.ts';
import type { ServerTransport, TransportEvents } from './transport.ts';
import { Adoption } from './adoption.ts';
import { shardReport } from './report.ts';

export interface ShardDeps {
  index: number;
  config: ServerConfig;
  table: SubscriberTable;
  /** This shard's own counts (see CountingTable): what the main thread releases if it dies. */
  ledger: Ledger;
  /** Live connections per shard, shared with the main thread (which picks the least loaded). */
  load: Int32Array;
  peers: (LinkEnd | undefined)[];
  channel: ChannelSink;
  auth: Authenticator;
  log: Logger;
  /** Loads a group from the server's group source (in the main thread). */
  loadGroup: (appid: number, gid: number) => Promise<Group | null>;
  /** The message store thread; null with IM_STORE=off. */
  store: StoreClient | null;
}

/**
 * One shard: owns the sockets the main thread moved here and their connections. Frames go
 * to dispatch with a narrow context (the routing pipeline, presence, groups); only this
 * thread touches its Routes, and what other threads need (counts, shard masks) goes
 * through the shared subscriber table.
 */
export class Shard implements ConnectionOwner {
  readonly index: number;
  readonly config: ServerConfig;
  readonly delivery: Delivery;
  readonly routing: Routing;
  readonly path: MessagePath;
  readonly sync: Sync;
  readonly presence: Presence;
  readonly groups: ShardGroups;
  readonly stats: ShardStats = emptyShardStats();
  readonly framesInByCmd = new Float64Array(256);
  readonly framesOutByCmd = new Float64Array(256);
  readonly arena = new WriteArena();
  channel: ChannelSink;
  readonly #log: Logger;
  readonly #ctx: DispatchContext;
  readonly #adoption: Adoption;
  readonly #conns = new Set<Connection>();
  readonly #disconnects = new Map<DisconnectReason, number>();
  #dirty: Connection[] = [];
  #flushScheduled = false;
  readonly #flushAll = () => this.#flush();
  #nextId = 1;
  #sweep: NodeJS.Timeout;
  /** One limits object shared by every connection. */
  readonly #limits: QueueLimits;

  constructor(d: ShardDeps) {
    this.index = d.index;
    this.config = d.config;
    this.channel = d.channel;
    this.#log = d.log;
    this.#adoption = new Adoption({
      index: d.index, config: d.config, load: d.load, stats: this.stats, log: d.log,
      attach: (open, at) => this.#attach(open, at),
      timedOut: () => {
        this.stats.authTimeouts++;
        this.#disconnected(Disconnect.AUTH_TIMEOUT);
      },
    });
    this.#limits = { frames: d.config.queueLimit, bytes: d.config.queueLimitBytes, dropOldest: d.config.queuePolicy === 'drop-oldest', readBudget: d.config.readBudgetBytes };
    const routes = new AppRoute<Connection>(d.config.roomRule);
    const channel = () => this.channel;
    this.presence = new Presence(routes, new CountingTable(d.table, d.ledger, d.index), channel, this.stats, d.log);
    const c = d.config;
    this.groups = new ShardGroups(new GroupCache(d.loadGroup, c.groupCacheSize, c.groupCacheIdleS * 1000, c.controlTimeoutMs), this.stats, d.log);
    this.delivery = new Delivery(d.index, d.table, routes, d.peers, this.groups);
    this.routing = new Routing(this.delivery, d.table, channel);
    const store = d.store;
    this.path = new MessagePath(this.routing, store && ((m) => store.call({ op: 'save', ...m })), this.stats, d.log);
    this.sync = new Sync({
      store, loadGroup: (appid, gid) => this.groups.load(appid, gid), stats: this.stats, log: d.log,
      syncLimit: c.syncLimit, syncHardLimit: c.syncHardLimit, groupSyncLimit: c.groupSyncLimit,
    });
    this.#ctx = {
      routing: this.routing, path: this.path, sync: this.sync, groups: this.groups, presence: this.presence, auth: d.auth, stats: this.stats, log: d.log,
      maxBody: c.maxBody, kefuAppid: c.kefuAppid, stored: store !== null,
    };
    let ticks = 0;
    this.#sweep = setInterval(() => {
      this.#checkTimeouts();
      if (++ticks % 10 === 0) this.groups.cache.sweep();
    }, 1000);
    this.#sweep.unref();
  }

  /** A socket the main thread accepted (paused, unread) and moved to this thread. */
  adopt(moved: net.Socket, kind: TransportKind): void {
    this.#adoption.adopt(moved, kind);
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  /** POST /post_* from the HTTP API. */
  post(p: PostRequest): Promise<number> {
    return inject(this.#ctx, p);
  }

  // ConnectionOwner

  onFrame(c: Connection, f: Frame): void {
    this.stats.framesIn++;
    this.framesInByCmd[f.cmd]!++;
    this.delivery.crowded = false;
    try {
      dispatch(this.#ctx, c, f);
    } catch (err) {
      this.onInternalError(c, err, f.cmd);
    }
    if (this.delivery.crowded) this.#waitForPeers(c);
  }

  continued(c: Connection, run: () => void): void {
    this.delivery.crowded = false;
    run();
    // A stored message is handed to the other shards once saved: its sender is held here.
    if (this.delivery.crowded) this.#waitForPeers(c);
  }

  /** Clients whose reads wait for other shards to catch up with what they sent (Delivery.crowded). */
  readonly #held = new Set<Connection>();
  #heldCheck: NodeJS.Timeout | undefined;

  #waitForPeers(c: Connection): void {
    if (!c.waitForPeers()) return;
    this.stats.peerPauses++;
    this.#held.add(c);
    this.#heldCheck ??= setTimeout(this.#checkHeld, 1);
  }

  /** Polled while clients are held: the peers' progress is in shared memory, not a message. */
  readonly #checkHeld = () => {
    if (!this.delivery.caughtUp()) {
      this.#heldCheck = setTimeout(this.#checkHeld, 1);
      return;
    }
    this.#heldCheck = undefined;
    for (const c of this.#held) c.peersCaughtUp();
    this.#held.clear();
  };

  onInternalError(c: Connection, err: unknown, cmd: number): void {
    // A bug must cost one connection, not the shard and all of its connections.
    this.stats.internalErrors++;
    this.#log.error({ err, conn: c.id, uid: c.uid, cmd }, 'frame handler failed; closing the connection');
    c.destroy(Disconnect.INTERNAL);
  }

  onInvalid(c: Connection, err: ProtocolError): void {
    this.stats.invalidFrames++;
    this.#log.debug({ conn: c.id, remote: c.remote, uid: c.uid, code: err.code, cmd: err.cmd, err: err.message }, 'invalid frame; closing connection');
  }

  onHeldBack(): void {
    this.stats.storePauses++;
  }

  onDropped(_c: Connection, n: number): void {
    this.stats.dropped += n;
  }

  onSlow(c: Connection, bytes: number): void {
    this.stats.slowDisconnects++;
    this.#log.warn({ conn: c.id, uid: c.uid, appid: c.appid, remote: c.remote, bytes, limit: this.config.queueLimitBytes },
      'slow consumer: more than IM_QUEUE_LIMIT_BYTES waiting for a client that does not read; disconnecting it');
  }

  /**
   * Numbers event-loop turns for the read budgets: a turn in which anything was read ends
   * after that poll phase's reads (one immediate a turn, only in turns with reads).
   */
  get turn(): number {
    if (!this.#turnScheduled) {
      this.#turnScheduled = true;
      atEndOfTurn(Outlet.TURN, this.#nextTurn);
    }
    return this.#turn;
  }

  #turn = 0;
  #turnScheduled = false;
  #overBudget: Connection[] = [];
  readonly #nextTurn = () => {
    this.#turn++;
    this.#turnScheduled = false;
    const waiting = this.#overBudget;
    this.#overBudget = [];
    for (const c of waiting) c.nextTurn();
  };

  onOverBudget(c: Connection): void {
    this.stats.readBudgetPauses++;
    this.#overBudget.push(c);
  }

  markDirty(c: Connection): void {
    this.#dirty.push(c);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      atEndOfTurn(Outlet.CLIENTS, this.#flushAll);
    }
  }

  onClose(c: Connection, reason: DisconnectReason): void {
    this.#conns.delete(c);
    this.#held.delete(c);
    if (c.authed) this.presence.unregister(c);
    this.#disconnected(reason);
    this.#log.debug({ conn: c.id, uid: c.uid, appid: c.appid, reason }, 'connection closed');
  }

  #disconnected(reason: DisconnectReason): void {
    this.#disconnects.set(reason, (this.#disconnects.get(reason) ?? 0) + 1);
  }

  report(): ShardReport {
    return shardReport(this, this.#conns, this.#disconnects);
  }

  /** Closes every connection gracefully (queued frames are written first). */
  closeAll(): void {
    this.#adoption.close();
    this.#flush();
    for (const c of [...this.#conns]) c.close();
  }

  #attach(open: (e: TransportEvents) => ServerTransport, at: number): void {
    const decoder = new FrameDecoder({ accept: CLIENT_CMDS, maxBody: this.config.maxBody });
    const c = new Connection(this.#nextId++, open, this, decoder, this.#limits, at);
    this.#conns.add(c);
    this.stats.accepted++;
    this.#log.debug({ conn: c.id, kind: c.kind, remote: c.remote }, 'connection');
  }

  #flush(): void {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const c of dirty) c.flush();
  }

  #checkTimeouts(): void {
    const now = performance.now();
    const idle = this.config.clientTimeoutS * 1000;
    const authLimit = this.config.authTimeoutS * 1000;
    // Never a connection (a TLS handshake or WebSocket upgrade that did not finish).
    this.#adoption.checkTimeouts(now, authLimit);
    for (const c of this.#conns) {
      if (!c.authed && now - c.createdAt > authLimit) {
        this.stats.authTimeouts++;
        c.destroy(Disconnect.AUTH_TIMEOUT);
      } else if (now - c.lastRecv > idle) {
        this.stats.idleTimeouts++;
        c.destroy(Disconnect.IDLE);
      }
    }
  }
}
