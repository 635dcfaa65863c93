import type net from 'node:net';
import type { WebSocket } from 'ws';
import { FrameDecoder, HEADER_SIZE, ProtocolError, ProtocolErrorCode, writeHeader, type Frame } from '../protocol/index.ts';
import type { RouteClient } from '../route/index.ts';
import { bodyFor, type OutFrame } from './out-frame.ts';

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';

/** What a connection reports to the shard that owns it. */
export interface ConnectionOwner {
  onFrame(c: Connection, f: Frame): void;
  onInvalid(c: Connection, err: ProtocolError): void;
  onClose(c: Connection): void;
  /** The connection has frames to write: flush it at the end of this turn. */
  markDirty(c: Connection): void;
  /** Frames dropped because the client did not read (queue limit). */
  onDropped(c: Connection, n: number): void;
  /** Frames written, by cmd. */
  readonly framesOutByCmd: Float64Array;
}

const kConn = Symbol('connection');
type Tagged<T> = T & { [kConn]?: Connection };

/*
 * Listeners are module-level functions that find their connection through a symbol on the
 * socket: a connection costs no closures (we hold tens of thousands of them).
 */
function onStreamData(this: Tagged<net.Socket>, chunk: Buffer): void {
  this[kConn]!.receive(chunk);
}
function onWsMessage(this: Tagged<WebSocket>, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const c = this[kConn]!;
  if (!isBinary) {
    c.fail(new ProtocolError(ProtocolErrorCode.TEXT_MESSAGE, 'WebSocket text message: the protocol is binary'));
    return;
  }
  c.receive(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
}
function onDrain(this: Tagged<net.Socket>): void {
  this[kConn]!.drained();
}
function onClose(this: Tagged<net.Socket | WebSocket>): void {
  this[kConn]!.closed();
}
function ignore(): void {}

/**
 * One client connection on a shard: the decoder for what it sends, the state auth gives it,
 * and a bounded outbound queue written once per turn. While the socket pushes back, frames
 * wait in the queue; past `queueLimit` the oldest are dropped (GoBelieve's rule).
 */
export class Connection implements RouteClient {
  readonly id: number;
  readonly kind: TransportKind;
  readonly remote: string;
  uid = 0;
  appid = 0;
  deviceId = '';
  platform = 0;
  /** The client's protocol version: 0 until a successful auth sets it. */
  version = 0;
  /** Online for push (see Identity.notificationOn). */
  online = true;
  authed = false;
  /** Auth in progress: further AUTH_TOKENs are ignored. */
  authing = false;
  room: number | undefined;
  readonly createdAt: number;
  lastRecv: number;
  #seq = 0;
  #queue: OutFrame[] = [];
  #blocked = false;
  #dead = false;
  #failed = false;
  readonly #decoder: FrameDecoder;
  readonly #owner: ConnectionOwner;
  readonly #queueLimit: number;
  readonly #stream: net.Socket | undefined;
  readonly #ws: WebSocket | undefined;

  constructor(id: number, kind: TransportKind, io: { stream?: net.Socket; ws?: WebSocket; remote: string },
    owner: ConnectionOwner, decoder: FrameDecoder, queueLimit: number, now: number) {
    this.id = id;
    this.kind = kind;
    this.remote = io.remote;
    this.#owner = owner;
    this.#decoder = decoder;
    this.#queueLimit = queueLimit;
    this.createdAt = now;
    this.lastRecv = now;
    if (io.stream !== undefined) {
      const s = io.stream as Tagged<net.Socket>;
      this.#stream = s;
      s[kConn] = this;
      s.setNoDelay(true);
      s.on('data', onStreamData);
      s.on('drain', onDrain);
      s.on('error', ignore);
      s.on('close', onClose);
    } else {
      const ws = io.ws as Tagged<WebSocket>;
      this.#ws = ws;
      ws[kConn] = this;
      ws.on('message', onWsMessage);
      ws.on('error', ignore);
      ws.on('close', onClose);
      const raw = (ws as unknown as { _socket?: Tagged<net.Socket> })._socket;
      if (raw !== undefined) {
        raw[kConn] = this;
        raw.on('drain', onDrain);
      }
    }
  }

  get queued(): number {
    return this.#queue.length;
  }

  get dead(): boolean {
    return this.#dead;
  }

  receive(chunk: Buffer): void {
    this.lastRecv = performance.now();
    const err = this.#decoder.push(chunk, (f) => {
      if (!this.#dead) this.#owner.onFrame(this, f);
    });
    if (err !== undefined) this.fail(err);
  }

  /** The client broke the protocol: report once and close. */
  fail(err: ProtocolError): void {
    if (this.#dead || this.#failed) return;
    this.#failed = true;
    this.#owner.onInvalid(this, err);
    this.destroy();
  }

  send(f: OutFrame): void {
    if (this.#dead) return;
    // The cap applies while the socket pushes back; a reading client gets every frame of a
    // burst (one turn's worth) in one write.
    if (this.#blocked && this.#queue.length >= this.#queueLimit) {
      this.#queue.shift();
      this.#owner.onDropped(this, 1);
    }
    this.#queue.push(f);
    if (this.#queue.length === 1 && !this.#blocked) this.#owner.markDirty(this);
  }

  /** Writes what is queued: one buffer for a stream, one message per frame for WebSocket. */
  flush(): void {
    if (this.#dead || this.#blocked || this.#queue.length === 0) return;
    const frames = this.#queue;
    this.#queue = [];
    const v = this.version;
    const counts = this.#owner.framesOutByCmd;
    for (const f of frames) counts[f.cmd]!++;
    if (this.#stream !== undefined) {
      let total = 0;
      for (const f of frames) total += HEADER_SIZE + bodyFor(f, v).length;
      const b = Buffer.allocUnsafe(total);
      let p = 0;
      for (const f of frames) {
        const body = bodyFor(f, v);
        writeHeader(b, p, body.length, ++this.#seq, f.cmd, v, f.flag);
        body.copy(b, p + HEADER_SIZE);
        p += HEADER_SIZE + body.length;
      }
      if (!this.#stream.write(b)) this.#blocked = true;
    } else {
      const ws = this.#ws!;
      for (const f of frames) {
        const body = bodyFor(f, v);
        const b = Buffer.allocUnsafe(HEADER_SIZE + body.length);
        writeHeader(b, 0, body.length, ++this.#seq, f.cmd, v, f.flag);
        body.copy(b, HEADER_SIZE);
        ws.send(b, { binary: true });
      }
      const raw = (ws as unknown as { _socket?: net.Socket })._socket;
      if (raw !== undefined && raw.writableNeedDrain) this.#blocked = true;
    }
  }

  drained(): void {
    this.#blocked = false;
    if (this.#queue.length > 0) this.#owner.markDirty(this);
  }

  /** Graceful close: queued frames are written first. */
  close(): void {
    if (this.#dead) return;
    this.#blocked = false;
    this.flush();
    if (this.#stream !== undefined) this.#stream.end();
    else this.#ws!.close();
    // A peer that never acknowledges the close must not hold the connection open.
    setTimeout(() => this.destroy(), 2000).unref();
  }

  destroy(): void {
    if (this.#stream !== undefined) this.#stream.destroy();
    else this.#ws!.terminate();
  }

  closed(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#queue = [];
    this.#owner.onClose(this);
  }
}
