import type net from 'node:net';
import type { WebSocket } from 'ws';
import { HEADER_SIZE, ProtocolError, ProtocolErrorCode, type TransportKind } from '../protocol/index.ts';

/** What a transport reports to its connection. */
export interface TransportEvents {
  receive(chunk: Buffer): void;
  fail(err: ProtocolError): void;
  /** The socket took everything written: more may be written. */
  drained(): void;
  closed(): void;
}

/**
 * A client connection's socket, as the shard sees it: bytes in, whole frames out. TCP and
 * TLS carry a byte stream; a WebSocket carries one frame per binary message. Like the
 * client SDK's Transport, so that the connection above never branches on the kind.
 */
export interface ServerTransport {
  readonly kind: TransportKind;
  readonly remote: string;
  /** Writes a batch of whole frames; false when the socket pushes back (wait for drained()). */
  write(frames: Buffer): boolean;
  /** Bytes written but not yet taken by the operating system. */
  readonly buffered: number;
  /**
   * A write holds no reference to its bytes once `buffered` reads 0 after it (a stream
   * socket): the bytes may come from a shared slab (WriteArena).
   */
  readonly releasesWrites: boolean;
  /** Graceful close: what was written goes out first (a WebSocket's close frame says `code`, default 1000). */
  end(code?: number, reason?: string): void;
  destroy(): void;
  /** Stops reading from the client (its bytes wait in the kernel, then in its own socket). */
  pause(): void;
  resume(): void;
}

const kEvents = Symbol('events');
type Tagged<T> = T & { [kEvents]?: TransportEvents };

/*
 * Listeners are module-level functions that find their connection through a symbol on the
 * socket: a connection costs no closures (we hold tens of thousands of them).
 */
function onData(this: Tagged<net.Socket>, chunk: Buffer): void {
  this[kEvents]!.receive(chunk);
}
/**
 * Raw TCP reads land in one buffer per thread (net.Socket's `onread`) and each is copied out
 * at its own size: no 64 KiB allocation, shrink and ArrayBuffer per read, and none of the
 * stream's per-chunk work. The copy is what the connection keeps (a frame body may be a view
 * of it until the end of the turn), so nothing refers to the shared buffer after the call.
 */
let readBuffer: Buffer | undefined;
function onRead(this: Tagged<net.Socket>, n: number, buf: Buffer): void {
  const chunk = Buffer.allocUnsafe(n);
  buf.copy(chunk, 0, 0, n);
  this[kEvents]!.receive(chunk);
}
export function sharedReads(): { buffer: Buffer; callback: (n: number, buf: Buffer) => void } {
  readBuffer ??= Buffer.allocUnsafeSlow(64 * 1024);
  return { buffer: readBuffer, callback: onRead as (n: number, buf: Buffer) => void };
}
function onMessage(this: Tagged<WebSocket>, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const e = this[kEvents]!;
  if (!isBinary) return e.fail(new ProtocolError(ProtocolErrorCode.TEXT_MESSAGE, 'WebSocket text message: the protocol is binary'));
  e.receive(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
}
function onDrain(this: Tagged<net.Socket>): void {
  this[kEvents]!.drained();
}
function onClose(this: Tagged<net.Socket | WebSocket>): void {
  this[kEvents]!.closed();
}
function ignore(): void {}

function remoteOf(s: net.Socket): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}

/** TCP, or TLS once its handshake is done. */
export class StreamTransport implements ServerTransport {
  readonly kind: TransportKind;
  readonly remote: string;
  readonly #s: net.Socket;
  get releasesWrites(): boolean {
    return true;
  }

  constructor(kind: TransportKind, socket: net.Socket, events: TransportEvents) {
    this.kind = kind;
    this.remote = remoteOf(socket);
    const s = socket as Tagged<net.Socket>;
    this.#s = s;
    s[kEvents] = events;
    s.setNoDelay(true);
    s.on('data', onData);
    s.on('drain', onDrain);
    s.on('error', ignore);
    s.on('close', onClose);
  }

  write(frames: Buffer): boolean {
    return this.#s.write(frames);
  }

  get buffered(): number {
    return this.#s.writableLength;
  }

  end(): void {
    this.#s.end();
  }

  destroy(): void {
    this.#s.destroy();
  }

  pause(): void {
    this.#s.pause();
  }

  resume(): void {
    this.#s.resume();
  }
}

/** WebSocket (ws or wss): `raw` is the socket under it, for back-pressure. */
export class WsTransport implements ServerTransport {
  readonly kind: TransportKind;
  readonly remote: string;
  readonly #ws: WebSocket;
  readonly #raw: net.Socket;
  /** ws may queue a message of its own (while it compresses one), not counted in `buffered`. */
  get releasesWrites(): boolean {
    return false;
  }

  constructor(kind: TransportKind, ws: WebSocket, raw: net.Socket, events: TransportEvents) {
    this.kind = kind;
    this.remote = remoteOf(raw);
    this.#ws = ws;
    this.#raw = raw;
    (ws as Tagged<WebSocket>)[kEvents] = events;
    (raw as Tagged<net.Socket>)[kEvents] = events;
    ws.on('message', onMessage);
    ws.on('error', ignore);
    ws.on('close', onClose);
    raw.on('drain', onDrain);
  }

  /** One binary message per frame, each a view of the batch. */
  write(frames: Buffer): boolean {
    for (let p = 0; p < frames.length;) {
      const end = p + HEADER_SIZE + frames.readInt32BE(p);
      this.#ws.send(frames.subarray(p, end), { binary: true });
      p = end;
    }
    return !this.#raw.writableNeedDrain;
  }

  get buffered(): number {
    return this.#raw.writableLength;
  }

  end(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }

  destroy(): void {
    this.#ws.terminate();
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }
}
