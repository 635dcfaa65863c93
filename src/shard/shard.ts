import { Disconnect, type DisconnectReason } from './disconnect.ts';
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { MessagePort } from 'node:worker_threads';
import { WebSocketServer } from 'ws';
import { CLIENT_CMDS, FrameDecoder, type Frame, type ProtocolError, type TransportKind } from '../protocol/index.ts';
import { createServer } from '../http/create-server.ts';
import { AppRoute } from '../route/index.ts';
import type { Ledger, SubscriberTable } from '../subscribers/index.ts';
import type { Authenticator } from '../auth/auth.ts';
import type { ChannelSink } from '../threads/channel-port.ts';
import { threadMemory } from '../threads/memory.ts';
import type { ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import { GroupCache } from '../groups/cache.ts';
import type { Group } from '../groups/source.ts';
import { Connection, type ConnectionOwner, type QueueLimits } from './connection.ts';
import { WriteArena } from './write-arena.ts';
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
import { emptyShardStats, nonZero, type AppSummary, type ShardReport, type ShardStats } from './stats.ts';
import { StreamTransport, WsTransport, sharedReads, type ServerTransport, type TransportEvents } from './transport.ts';

const kPending = Symbol('pending');
type Tagged<T> = T & { [kPending]?: Pending };

/**
 * A socket moved here from the main thread arrives as an object in V8's dictionary mode: its
 * properties cost ~1.5 KiB a connection (a heap snapshot of 5,000 connections). A socket made
 * anew around the same handle, before anything reads or listens, has fast properties.
 */
function anew(moved: net.Socket, kind: TransportKind): net.Socket {
  const m = moved as net.Socket & { _handle: unknown };
  const handle = m._handle;
  if (handle === null || handle === undefined) return moved;
  m._handle = null;
  // TLS and WebSocket read the socket through their own layers; raw TCP reads here.
  const onread = kind === 'tcp' ? sharedReads() : undefined;
  return new net.Socket({ handle, readable: true, writable: true, onread } as net.SocketConstructorOpts);
}

/** A module-level listener, not a closure per socket: tens of thousands of sockets are held. */
function onAdoptedClose(this: Tagged<net.Socket>): void {
  const entry = this[kPending]!;
  entry.shard.released(entry);
}

interface Pending {
  raw: net.Socket;
  /** Told when the socket closes, whatever it had become. */
  shard: Shard;
  /** When it arrived on this shard (performance.now()). */
  at: number;
  /** It became a connection (its own auth timeout runs from there). */
  done?: boolean;
}

export interface ShardDeps {
  index: number;
  config: ServerConfig;
  table: SubscriberTable;
  /** This shard's own counts (see CountingTable): what the main thread releases if it dies. */
  ledger: Ledger;
  /** Live connections per shard, shared with the main thread (which picks the least loaded). */
  load: Int32Array;
  peers: (MessagePort | undefined)[];
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
  readonly #load: Int32Array;
  readonly #conns = new Set<Connection>();
  readonly #disconnects = new Map<DisconnectReason, number>();
  #dirty: Connection[] = [];
  #flushScheduled = false;
  readonly #flushAll = () => this.#flush();
  #nextId = 1;
  #sweep: NodeJS.Timeout;
  readonly #wsHttp: http.Server;
  readonly #secure: tls.SecureContext | undefined;
  /** Sockets adopted but not yet a connection (TLS handshake or WebSocket upgrade under way). */
  readonly #pending = new Set<Pending>();
  /** One limits object shared by every connection. */
  readonly #limits: QueueLimits;
  #closing = false;

  constructor(d: ShardDeps) {
    this.index = d.index;
    this.config = d.config;
    this.channel = d.channel;
    this.#log = d.log;
    this.#load = d.load;
    this.#limits = { frames: d.config.queueLimit, bytes: d.config.queueLimitBytes, dropOldest: d.config.queuePolicy === 'drop-oldest', readBudget: d.config.readBudgetBytes };
    const routes = new AppRoute<Connection>(d.config.roomRule);
    const channel = () => this.channel;
    this.presence = new Presence(routes, new CountingTable(d.table, d.ledger, d.index), channel, this.stats, d.log);
    const c = d.config;
    this.groups = new ShardGroups(new GroupCache(d.loadGroup, c.groupCacheSize, c.groupCacheIdleS * 1000), this.stats, d.log);
    this.delivery = new Delivery(d.index, d.table, routes, d.peers, this.groups);
    this.routing = new Routing(this.delivery, d.table, channel);
    const store = d.store;
    this.path = new MessagePath(this.routing, store && ((items) => store.call({ op: 'save', items })), this.stats, d.log);
    this.sync = new Sync({
      store, loadGroup: (appid, gid) => this.groups.load(appid, gid), stats: this.stats, log: d.log,
      syncLimit: c.syncLimit, syncHardLimit: c.syncHardLimit, groupSyncLimit: c.groupSyncLimit,
    });
    this.#ctx = {
      routing: this.routing, path: this.path, sync: this.sync, groups: this.groups, presence: this.presence, auth: d.auth, stats: this.stats, log: d.log,
      maxBody: c.maxBody, kefuAppid: c.kefuAppid, stored: store !== null,
    };
    this.#wsHttp = this.#wsServer(createServer());
    if (d.config.tlsCert !== undefined && d.config.tlsKey !== undefined) {
      this.#secure = tls.createSecureContext({ cert: d.config.tlsCert, key: d.config.tlsKey });
    }
    let ticks = 0;
    this.#sweep = setInterval(() => {
      this.#checkTimeouts();
      if (++ticks % 10 === 0) this.groups.cache.sweep();
    }, 1000);
    this.#sweep.unref();
  }

  /**
   * A socket the main thread accepted (paused, unread) and moved to this thread. Whatever its
   * transport, it must become an authenticated connection within IM_AUTH_TIMEOUT_S of
   * arriving here: a TLS handshake or an HTTP upgrade that never finishes is closed too.
   */
  adopt(moved: net.Socket, kind: TransportKind): void {
    const socket = anew(moved, kind);
    const entry: Pending = { raw: socket, shard: this, at: performance.now() };
    this.#pending.add(entry);
    // The main thread counted this socket for this shard; whatever becomes of it (a
    // connection, a failed TLS handshake, a refused upgrade), its close uncounts it.
    (socket as Tagged<net.Socket>)[kPending] = entry;
    socket.on('close', onAdoptedClose);
    if (this.#closing) return void socket.destroy();
    let stream: Tagged<net.Socket> = socket;
    if (kind === 'tls' || kind === 'wss') {
      if (this.#secure === undefined) return void socket.destroy();
      const t = new tls.TLSSocket(socket, { isServer: true, secureContext: this.#secure });
      t.on('error', (err) => {
        if (!entry.done) this.stats.tlsErrors++;
        this.#log.debug({ err: err.message, kind }, 'TLS handshake failed');
        t.destroy();
      });
      stream = t;
    }
    stream[kPending] = entry;
    if (kind === 'tcp') this.#attach(socket, (e) => new StreamTransport('tcp', socket, e));
    else if (kind === 'tls') stream.once('secure', () => this.#attach(stream, (e) => new StreamTransport('tls', stream, e)));
    // WebSocket (over TLS for wss): the HTTP upgrade runs in this shard's own http.Server.
    else this.#wsHttp.emit('connection', stream);
    socket.resume();
  }

  /** An adopted socket closed (see adopt). */
  released(entry: Pending): void {
    Atomics.sub(this.#load, this.index, 1);
    this.#pending.delete(entry);
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
    try {
      dispatch(this.#ctx, c, f);
    } catch (err) {
      this.onInternalError(c, err, f.cmd);
    }
  }

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
      setImmediate(this.#nextTurn);
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
      setImmediate(this.#flushAll);
    }
  }

  onClose(c: Connection, reason: DisconnectReason): void {
    this.#conns.delete(c);
    if (c.authed) this.presence.unregister(c);
    this.#disconnected(reason);
    this.#log.debug({ conn: c.id, uid: c.uid, appid: c.appid, reason }, 'connection closed');
  }

  #disconnected(reason: DisconnectReason): void {
    this.#disconnects.set(reason, (this.#disconnects.get(reason) ?? 0) + 1);
  }

  report(): ShardReport {
    const apps: AppSummary[] = [];
    let clients = 0, users = 0, rooms = 0, roomClients = 0;
    for (const r of this.presence.routes.routes()) {
      if (r.clientCount === 0 && r.roomCount === 0) continue;
      apps.push({ appid: r.appid, clients: r.clientCount, users: r.userCount, rooms: r.roomCount, room_clients: r.roomClientCount });
      clients += r.clientCount;
      users += r.userCount;
      rooms += r.roomCount;
      roomClients += r.roomClientCount;
    }
    const transports: Record<string, number> = { tcp: 0, ws: 0, tls: 0, wss: 0 };
    for (const c of this.#conns) transports[c.kind]!++;
    const memory = threadMemory();
    return {
      shard: this.index, connections: this.#conns.size, clients, users, rooms, room_clients: roomClients,
      delivered: this.delivery.delivered, handoffs_in: this.delivery.handoffsIn, handoffs_out: this.delivery.handoffsOut,
      stats: { ...this.stats, framesOut: this.framesOutByCmd.reduce((a, b) => a + b, 0) }, apps, transports,
      disconnects: Object.fromEntries(this.#disconnects),
      framesInByCmd: nonZero(this.framesInByCmd),
      framesOutByCmd: nonZero(this.framesOutByCmd),
      groupCache: { size: this.groups.cache.size, loads: this.groups.cache.loads },
      ...memory, writeSlabs: this.arena.replaced,
    };
  }

  /** Closes every connection gracefully (queued frames are written first). */
  closeAll(): void {
    this.#closing = true;
    this.#flush();
    for (const c of [...this.#conns]) c.close();
  }

  #attach(stream: Tagged<net.Socket>, open: (e: TransportEvents) => ServerTransport): void {
    const entry = stream[kPending];
    if (entry !== undefined) {
      entry.done = true;
      this.#pending.delete(entry);
    }
    const decoder = new FrameDecoder({ accept: CLIENT_CMDS, maxBody: this.config.maxBody });
    // The auth timeout runs from the socket's arrival, not from the end of its handshake.
    const c = new Connection(this.#nextId++, open, this, decoder, this.#limits, entry?.at ?? performance.now());
    this.#conns.add(c);
    this.stats.accepted++;
    this.#log.debug({ conn: c.id, kind: c.kind, remote: c.remote }, 'connection');
  }

  #wsServer(server: http.Server): http.Server {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: this.config.maxBody + 12 });
    server.on('upgrade', (req, socket: net.Socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      const kind = socket instanceof tls.TLSSocket ? 'wss' : 'ws';
      wss.handleUpgrade(req, socket, head, (ws) => this.#attach(socket, (e) => new WsTransport(kind, ws, socket, e)));
    });
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('WebSocket endpoint: connect to /ws\n');
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    return server;
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
    for (const p of this.#pending) {
      if (now - p.at <= authLimit) continue;
      this.#pending.delete(p);
      this.stats.authTimeouts++;
      // Never a connection (a TLS handshake or WebSocket upgrade that did not finish).
      this.#disconnected(Disconnect.AUTH_TIMEOUT);
      p.raw.destroy();
    }
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
