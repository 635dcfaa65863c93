import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { WebSocketServer } from 'ws';
import type { TransportKind } from '../protocol/index.ts';
import { createServer } from '../http/create-server.ts';
import type { ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import { StreamTransport, WsTransport, sharedReads, type ServerTransport, type TransportEvents } from './transport.ts';
import type { ShardStats } from './stats.ts';

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
  entry.owner.released(entry);
}

interface Pending {
  raw: net.Socket;
  /** Told when the socket closes, whatever it had become. */
  owner: Adoption;
  /** When it arrived on this shard (performance.now()). */
  at: number;
  /** It became a connection (its own auth timeout runs from there). */
  done?: boolean;
}

export interface AdoptionOptions {
  index: number;
  config: ServerConfig;
  /** Live connections per shard, shared with the main thread (which picks the least loaded). */
  load: Int32Array;
  stats: ShardStats;
  log: Logger;
  /** The socket (or its TLS layer) is ready for a connection: `open` makes its transport; `at` is its arrival. */
  attach: (open: (e: TransportEvents) => ServerTransport, at: number) => void;
  /** One that never became a connection missed IM_AUTH_TIMEOUT_S. */
  timedOut: () => void;
}

/**
 * The sockets the main thread moved to this shard, until each is a connection: whatever its
 * transport, it must become one within IM_AUTH_TIMEOUT_S of arriving here, so a TLS
 * handshake or an HTTP upgrade that never finishes is closed too. Every socket, whatever it
 * became, is uncounted from the shard's load when it closes.
 */
export class Adoption {
  readonly #o: AdoptionOptions;
  readonly #wsHttp: http.Server;
  readonly #secure: tls.SecureContext | undefined;
  /** Sockets adopted but not yet a connection (TLS handshake or WebSocket upgrade under way). */
  readonly #pending = new Set<Pending>();
  #closing = false;

  constructor(o: AdoptionOptions) {
    this.#o = o;
    this.#wsHttp = this.#wsServer(createServer());
    if (o.config.tlsCert !== undefined && o.config.tlsKey !== undefined) {
      this.#secure = tls.createSecureContext({ cert: o.config.tlsCert, key: o.config.tlsKey });
    }
  }

  /** A socket the main thread accepted (paused, unread) and moved to this thread. */
  adopt(moved: net.Socket, kind: TransportKind): void {
    const socket = anew(moved, kind);
    const entry: Pending = { raw: socket, owner: this, at: performance.now() };
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
        if (!entry.done) this.#o.stats.tlsErrors++;
        this.#o.log.debug({ err: err.message, kind }, 'TLS handshake failed');
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
    Atomics.sub(this.#o.load, this.#o.index, 1);
    this.#pending.delete(entry);
  }

  /** No more sockets: any moved here from now on is closed at once. */
  close(): void {
    this.#closing = true;
  }

  /** Closes the sockets that have not become a connection within `limitMs` of arriving. */
  checkTimeouts(now: number, limitMs: number): void {
    for (const p of this.#pending) {
      if (now - p.at <= limitMs) continue;
      this.#pending.delete(p);
      this.#o.timedOut();
      p.raw.destroy();
    }
  }

  #attach(stream: Tagged<net.Socket>, open: (e: TransportEvents) => ServerTransport): void {
    const entry = stream[kPending];
    if (entry !== undefined) {
      entry.done = true;
      this.#pending.delete(entry);
    }
    // The auth timeout runs from the socket's arrival, not from the end of its handshake.
    this.#o.attach(open, entry?.at ?? performance.now());
  }

  #wsServer(server: http.Server): http.Server {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: this.#o.config.maxBody + 12 });
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
}
