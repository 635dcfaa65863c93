import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import type { TransportKind } from '../protocol/index.ts';

export type { TransportKind };

/**
 * What the client needs from a connection. TCP and TLS carry a byte stream; a WebSocket
 * carries one frame per binary message. The client core never touches a socket directly.
 */
export interface Transport {
  /** Queues bytes; consecutive writes in one turn may be sent together. */
  write(b: Buffer): void;
  /** Graceful close; resolves once the connection is gone. */
  close(): Promise<void>;
  destroy(): void;
  onData: (chunk: Buffer) => void;
  onClose: (err?: Error) => void;
}

export interface ConnectOptions {
  host?: string;
  port: number;
  transport?: TransportKind;
  /** WebSocket path (default `/ws`). */
  path?: string;
  /** Extra options for TLS / WSS (e.g. `ca`, `rejectUnauthorized`). */
  tls?: tls.ConnectionOptions;
  /** Local address to bind, to spread many clients over several source addresses. */
  localAddress?: string;
}

class StreamTransport implements Transport {
  readonly #socket: net.Socket;
  #corked = false;
  onData: (chunk: Buffer) => void = () => {};
  onClose: (err?: Error) => void = () => {};

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    let failure: Error | undefined;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => { failure = err; });
    socket.on('close', () => this.onClose(failure));
  }

  write(b: Buffer): void {
    // After end() (a close in progress) or a destroy, a write would throw: nothing more goes out.
    if (this.#socket.writableEnded || this.#socket.destroyed) return;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(b);
  }

  async close(): Promise<void> {
    if (this.#socket.destroyed) return;
    const closed = once(this.#socket, 'close');
    this.#socket.end();
    await closed;
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

class WsTransport implements Transport {
  readonly #ws: WebSocket;
  onData: (chunk: Buffer) => void = () => {};
  onClose: (err?: Error) => void = () => {};

  constructor(ws: WebSocket) {
    this.#ws = ws;
    let failure: Error | undefined;
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        failure = new Error('server sent a WebSocket text message');
        ws.terminate();
        return;
      }
      this.onData(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    ws.on('error', (err) => { failure = err; });
    ws.on('close', () => this.onClose(failure));
  }

  write(b: Buffer): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(b, { binary: true });
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = once(this.#ws, 'close');
    this.#ws.close();
    await closed;
  }

  destroy(): void {
    this.#ws.terminate();
  }
}

export async function connectTransport(o: ConnectOptions): Promise<Transport> {
  const host = o.host ?? '127.0.0.1';
  const kind = o.transport ?? 'tcp';
  if (kind === 'tcp' || kind === 'tls') {
    const socket = kind === 'tcp'
      ? net.connect({ host, port: o.port, localAddress: o.localAddress })
      : tls.connect({ ...o.tls, host, port: o.port, localAddress: o.localAddress, servername: o.tls?.servername ?? (net.isIP(host) ? undefined : host) } as tls.ConnectionOptions);
    await once(socket, kind === 'tcp' ? 'connect' : 'secureConnect');
    return new StreamTransport(socket);
  }
  const scheme = kind === 'ws' ? 'ws' : 'wss';
  const ws = new WebSocket(`${scheme}://${host}:${o.port}${o.path ?? '/ws'}`, {
    ...o.tls,
    localAddress: o.localAddress,
    perMessageDeflate: false,
  });
  ws.binaryType = 'nodebuffer';
  await once(ws, 'open');
  return new WsTransport(ws);
}
