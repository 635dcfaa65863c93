import http from 'node:http';
import { getHeapStatistics } from 'node:v8';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { MessagePort } from 'node:worker_threads';
import { WebSocketServer, type WebSocket } from 'ws';
import { AuthStatus, CLIENT_CMDS, FrameDecoder, Platform, ProtocolError, codecs, encodeBody, type Frame } from '../protocol/index.ts';
import { AppRoute, Removed } from '../route/index.ts';
import {
  SubscriberTableError, onRoomAdded, onRoomRemoved, onUserAdded, onUserRemoved, type SubscriberTable,
} from '../subscribers/index.ts';
import { AuthError, type Authenticator } from '../auth/auth.ts';
import type { ChannelSink } from '../channel/sink.ts';
import type { ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import { Connection, type ConnectionOwner, type TransportKind } from './connection.ts';
import { Delivery } from './delivery.ts';
import { dispatch } from './dispatch.ts';
import { outFrame, type OutFrame } from './out-frame.ts';
import { ShardGroups } from './groups.ts';
import { CountingTable } from './ledger.ts';
import { GroupCache } from '../groups/cache.ts';
import type { Group } from '../groups/source.ts';
import { emptyShardStats, nonZero, type AppSummary, type ShardReport, type ShardStats } from './stats.ts';

export interface ShardDeps {
  index: number;
  config: ServerConfig;
  table: SubscriberTable;
  /** This shard's own counts (see CountingTable): what the main thread releases if it dies. */
  ledger: SubscriberTable;
  /** Live connections per shard, shared with the main thread (which picks the least loaded). */
  load: Int32Array;
  peers: (MessagePort | undefined)[];
  channel: ChannelSink;
  auth: Authenticator;
  log: Logger;
  /** Loads a group from the server's group source (in the main thread). */
  loadGroup: (appid: number, gid: number) => Promise<Group | null>;
}

/**
 * One shard: owns the sockets the main thread moved here, their protocol, and a Route per
 * appid for its own connections. Only this thread touches its Routes; what other threads
 * need (counts, shard masks) goes through the shared subscriber table.
 */
export class Shard implements ConnectionOwner {
  readonly index: number;
  readonly config: ServerConfig;
  readonly routes: AppRoute<Connection>;
  readonly table: SubscriberTable;
  readonly delivery: Delivery;
  readonly channel: ChannelSink;
  readonly auth: Authenticator;
  readonly log: Logger;
  readonly stats: ShardStats = emptyShardStats();
  readonly framesInByCmd = new Float64Array(256);
  readonly framesOutByCmd = new Float64Array(256);
  readonly groups: ShardGroups;
  readonly #load: Int32Array;
  readonly #counts: CountingTable;
  readonly #conns = new Set<Connection>();
  #dirty: Connection[] = [];
  #flushScheduled = false;
  #nextId = 1;
  #sweep: NodeJS.Timeout;
  readonly #wsHttp: http.Server;
  readonly #wssHttps: https.Server | undefined;
  readonly #tlsServer: tls.Server | undefined;
  #closing = false;

  constructor(d: ShardDeps) {
    this.index = d.index;
    this.config = d.config;
    this.table = d.table;
    this.channel = d.channel;
    this.auth = d.auth;
    this.log = d.log;
    this.#load = d.load;
    this.#counts = new CountingTable(d.table, d.ledger, d.index);
    this.routes = new AppRoute<Connection>(d.config.roomRule);
    this.delivery = new Delivery(d.index, d.table, this.routes, d.peers);
    this.groups = new ShardGroups(this, new GroupCache(d.loadGroup, d.config.groupCacheSize, d.config.groupCacheIdleS * 1000));
    this.delivery.onGroup = (appid, gid, f) => this.groups.fromElsewhere(appid, gid, f);
    this.#wsHttp = this.#wsServer(http.createServer(), 'ws');
    if (d.config.tlsCert !== undefined && d.config.tlsKey !== undefined) {
      const creds = { cert: d.config.tlsCert, key: d.config.tlsKey };
      this.#wssHttps = this.#wsServer(https.createServer(creds), 'wss');
      this.#tlsServer = tls.createServer(creds, (s) => this.#attach('tls', { stream: s, remote: remoteOf(s) }));
      this.#tlsServer.on('tlsClientError', () => this.stats.tlsErrors++);
    }
    let ticks = 0;
    this.#sweep = setInterval(() => {
      this.#checkTimeouts();
      if (++ticks % 10 === 0) this.groups.cache.sweep();
    }, 1000);
    this.#sweep.unref();
  }

  /** A socket the main thread accepted (paused, unread) and moved to this thread. */
  adopt(socket: net.Socket, kind: TransportKind): void {
    // The main thread counted this socket for this shard; whatever becomes of it (a
    // connection, a failed TLS handshake, a refused upgrade), its close uncounts it.
    socket.once('close', () => Atomics.sub(this.#load, this.index, 1));
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (kind === 'tcp') {
      this.#attach('tcp', { stream: socket, remote: remoteOf(socket) });
    } else {
      // TLS handshakes and HTTP upgrades run in the server that owns that transport here.
      const server = kind === 'tls' ? this.#tlsServer : kind === 'wss' ? this.#wssHttps : this.#wsHttp;
      if (server === undefined) return void socket.destroy();
      server.emit('connection', socket);
    }
    socket.resume();
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  // ConnectionOwner

  onFrame(c: Connection, f: Frame): void {
    this.stats.framesIn++;
    this.framesInByCmd[f.cmd]!++;
    try {
      dispatch(this, c, f);
    } catch (err) {
      // A bug must cost one connection, not the shard and all of its connections.
      this.stats.internalErrors++;
      this.log.error({ err, conn: c.id, uid: c.uid, cmd: f.cmd }, 'frame handler failed; closing the connection');
      c.destroy();
    }
  }

  onInvalid(c: Connection, err: ProtocolError): void {
    this.stats.invalidFrames++;
    this.log.debug({ conn: c.id, remote: c.remote, uid: c.uid, code: err.code, cmd: err.cmd, err: err.message }, 'invalid frame; closing connection');
  }

  onDropped(_c: Connection, n: number): void {
    this.stats.dropped += n;
  }

  markDirty(c: Connection): void {
    this.#dirty.push(c);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushAll());
    }
  }

  onClose(c: Connection): void {
    this.#conns.delete(c);
    if (c.authed) this.#unregister(c);
    this.log.debug({ conn: c.id, uid: c.uid, appid: c.appid }, 'connection closed');
  }

  /** Sends a frame to one connection (an answer, not a fan-out). */
  reply(c: Connection, f: OutFrame): void {
    c.send(f);
    this.stats.framesOut++;
  }

  ack(c: Connection, seq: number, status = 0, flag = 0): void {
    this.reply(c, outFrame(codecs.ACK.cmd, flag, encodeBody(codecs.ACK, { seq, status }, c.version)));
  }

  async authenticate(c: Connection, f: Frame): Promise<void> {
    if (c.authed || c.authing) return;
    const m = codecs.AUTH_TOKEN.forVersion(f.version).decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    c.authing = true;
    let id;
    try {
      id = await this.auth.authenticate(m.token);
    } catch (err) {
      c.authing = false;
      this.stats.authFailures++;
      const why = err instanceof AuthError ? err.code : 'ERR_AUTH_INTERNAL';
      if (!(err instanceof AuthError)) this.log.error({ err }, 'authenticator failed');
      this.log.debug({ conn: c.id, remote: c.remote, why }, 'auth failed');
      return this.#authStatus(c, AuthStatus.FAILED);
    }
    c.authing = false;
    if (c.dead) return;
    const mobile = m.platform_id === Platform.IOS || m.platform_id === Platform.ANDROID;
    c.appid = id.appid;
    c.uid = id.uid;
    c.deviceId = m.device_id;
    c.platform = m.platform_id;
    c.online = mobile || id.notificationOn !== true;
    if (!this.#register(c)) {
      this.stats.authRefusedFull++;
      return this.#authStatus(c, AuthStatus.FAILED);
    }
    c.version = f.version;
    c.authed = true;
    this.stats.logins++;
    this.#authStatus(c, AuthStatus.OK);
    this.log.debug({ conn: c.id, uid: c.uid, appid: c.appid, platform: c.platform, kind: c.kind }, 'authenticated');
  }

  enterRoom(c: Connection, room: number): void {
    if (c.room === room) return;
    if (c.room !== undefined) this.leaveRoom(c, c.room);
    const route = this.routes.findOrAddRoute(c.appid);
    const [fresh, evicted] = route.addRoomClient(room, c);
    try {
      this.channel.transition(onRoomAdded(this.#counts.addRoomMember(c.appid, room, fresh)), c.appid, room);
    } catch (err) {
      if (!(err instanceof SubscriberTableError)) throw err;
      route.removeRoomClient(room, c);
      this.stats.roomRefusedFull++;
      this.log.warn({ uid: c.uid, appid: c.appid, room, code: err.code }, 'room enter refused: subscriber table full');
      return;
    }
    c.room = room;
    if (evicted !== undefined) {
      evicted.room = undefined;
      this.channel.transition(onRoomRemoved(this.#counts.removeRoomMember(c.appid, room, false)), c.appid, room);
    }
  }

  leaveRoom(c: Connection, room: number): void {
    if (c.room !== room) return;
    c.room = undefined;
    const r = this.routes.findRoute(c.appid)?.removeRoomClient(room, c) ?? Removed.NOT_FOUND;
    if (r === Removed.NOT_FOUND) return;
    const prev = this.#counts.removeRoomMember(c.appid, room, r === Removed.EMPTIED);
    this.channel.transition(onRoomRemoved(prev), c.appid, room);
  }

  report(): ShardReport {
    const apps: AppSummary[] = [];
    let clients = 0, users = 0, rooms = 0, roomClients = 0;
    for (const r of this.routes.routes()) {
      if (r.clientCount === 0 && r.roomCount === 0) continue;
      apps.push({ appid: r.appid, clients: r.clientCount, users: r.userCount, rooms: r.roomCount, room_clients: r.roomClientCount });
      clients += r.clientCount;
      users += r.userCount;
      rooms += r.roomCount;
      roomClients += r.roomClientCount;
    }
    return {
      shard: this.index, connections: this.#conns.size, clients, users, rooms, room_clients: roomClients,
      delivered: this.delivery.delivered, handoffs_in: this.delivery.handoffsIn, handoffs_out: this.delivery.handoffsOut,
      stats: { ...this.stats }, apps,
      transports: this.#transports(),
      framesInByCmd: nonZero(this.framesInByCmd),
      framesOutByCmd: nonZero(this.framesOutByCmd),
      groupCache: { size: this.groups.cache.size, loads: this.groups.cache.loads },
      heapUsed: getHeapStatistics().used_heap_size,
      external: getHeapStatistics().external_memory,
    };
  }

  #transports(): Record<string, number> {
    const t: Record<string, number> = { tcp: 0, ws: 0, tls: 0, wss: 0 };
    for (const c of this.#conns) t[c.kind]!++;
    return t;
  }

  /** Closes every connection gracefully (queued frames are written first). */
  closeAll(): void {
    this.#closing = true;
    this.#flushAll();
    for (const c of [...this.#conns]) c.close();
  }

  #authStatus(c: Connection, status: number): void {
    this.reply(c, outFrame(codecs.AUTH_STATUS.cmd, 0, encodeBody(codecs.AUTH_STATUS, { status }, 0)));
  }

  /** Route and table bookkeeping for a fresh login; false when the table refuses it. */
  #register(c: Connection): boolean {
    const route = this.routes.findOrAddRoute(c.appid);
    const fresh = route.addClient(c);
    let prev: number;
    try {
      prev = this.#counts.addUser(c.appid, c.uid, c.online, fresh);
    } catch (err) {
      if (!(err instanceof SubscriberTableError)) throw err;
      route.removeClient(c);
      this.log.warn({ uid: c.uid, appid: c.appid, code: err.code, err: err.message }, 'login refused by the subscriber table');
      return false;
    }
    this.channel.transition(onUserAdded(prev, c.online), c.appid, c.uid);
    return true;
  }

  #unregister(c: Connection): void {
    if (c.room !== undefined) this.leaveRoom(c, c.room);
    const r = this.routes.findRoute(c.appid)?.removeClient(c) ?? Removed.NOT_FOUND;
    if (r === Removed.NOT_FOUND) return;
    const prev = this.#counts.removeUser(c.appid, c.uid, c.online, r === Removed.EMPTIED);
    this.channel.transition(onUserRemoved(prev, c.online), c.appid, c.uid);
  }

  #attach(kind: TransportKind, io: { stream?: net.Socket; ws?: WebSocket; remote: string }): void {
    const decoder = new FrameDecoder({ accept: CLIENT_CMDS, maxBody: this.config.maxBody });
    const c = new Connection(this.#nextId++, kind, io, this, decoder, this.config.queueLimit, performance.now());
    this.#conns.add(c);
    this.stats.accepted++;
    this.log.debug({ conn: c.id, kind, remote: c.remote }, 'connection');
  }

  #wsServer<S extends http.Server | https.Server>(server: S, kind: 'ws' | 'wss'): S {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: this.config.maxBody + 12 });
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.#attach(kind, { ws, remote: remoteOf(req.socket) });
      });
    });
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('WebSocket endpoint: connect to /ws\n');
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    return server;
  }

  #flushAll(): void {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const c of dirty) c.flush();
  }

  #checkTimeouts(): void {
    const now = performance.now();
    const idle = this.config.clientTimeoutS * 1000;
    const authLimit = this.config.authTimeoutS * 1000;
    for (const c of this.#conns) {
      if (!c.authed && now - c.createdAt > authLimit) {
        this.stats.authTimeouts++;
        c.destroy();
      } else if (now - c.lastRecv > idle) {
        this.stats.idleTimeouts++;
        c.destroy();
      }
    }
  }
}

function remoteOf(s: net.Socket): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}
