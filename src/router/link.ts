import type net from 'node:net';
import { FrameDecoder, HEADER_SIZE, ROUTER_CMDS, writeHeader, type Frame, type ProtocolError } from '../protocol/index.ts';
import { WriteProgress } from '../net/write-progress.ts';

const SHUTDOWN_GRACE_MS = 2000;

export type LinkCloseReason = 'peer' | 'invalid_frame' | 'write_limit' | 'shutdown' | 'error' | 'unauthenticated';

export interface LinkHandlers {
  frame(link: Link, frame: Frame): void;
  invalid(link: Link, err: ProtocolError): void;
  closed(link: Link, reason: LinkCloseReason): void;
  /** A frame for this link was dropped: it reads, but more than the write limit waits. */
  backlog(link: Link): void;
}

/**
 * One access server's connection to the router. Outbound frames are gathered and written
 * once per event-loop turn (setImmediate runs after every socket read of the turn), as one
 * buffer: a burst of publishes costs one syscall per link, not one per frame. At most the
 * write limit waits unsent: a burst's excess is dropped and counted, and a peer that takes
 * nothing for STALL_MS (2 s) with that much waiting has stopped reading and is closed.
 */
export class Link {
  readonly id: number;
  readonly remote: string;
  readonly #socket: net.Socket;
  readonly #decoder = new FrameDecoder({ accept: ROUTER_CMDS });
  readonly #handlers: LinkHandlers;
  readonly #writeLimit: number;
  #out: Buffer[] = [];
  #outBytes = 0;
  #scheduled = false;
  #seq = 0;
  #closeReason: LinkCloseReason | undefined;
  readonly #progress: WriteProgress;
  framesOut = 0;
  /** Frames dropped: more than the write limit was waiting. */
  overLimit = 0;
  /** Presented the router's secret (or none is required). */
  authed = false;

  constructor(id: number, socket: net.Socket, handlers: LinkHandlers, writeLimit: number) {
    this.id = id;
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#socket = socket;
    this.#handlers = handlers;
    this.#writeLimit = writeLimit;
    this.#progress = new WriteProgress(socket, () => this.close('write_limit'));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => { this.#closeReason ??= 'error'; });
    socket.on('close', () => handlers.closed(this, this.#closeReason ?? 'peer'));
  }

  /** Queues a frame: a fresh header carrying this link's own seq, then the body as received. */
  forward(frame: Frame): void {
    if (this.#progress.exceeds(this.#outBytes + HEADER_SIZE + frame.body.length, this.#writeLimit)) {
      if (this.#progress.stalled()) return this.close('write_limit');
      this.overLimit++;
      return this.#handlers.backlog(this);
    }
    const header = Buffer.allocUnsafe(HEADER_SIZE);
    writeHeader(header, 0, frame.body.length, ++this.#seq, frame.cmd, frame.version, frame.flag);
    this.#out.push(header, frame.body);
    this.#outBytes += HEADER_SIZE + frame.body.length;
    this.framesOut++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  close(reason: LinkCloseReason): void {
    this.#closeReason ??= reason;
    if (reason !== 'shutdown') return void this.#socket.destroy();
    this.#flush();
    this.#socket.end();
    // A peer that does not read what is left must not hold the router's exit.
    setTimeout(() => this.#socket.destroy(), SHUTDOWN_GRACE_MS).unref();
  }

  /** Reports a frame that broke the protocol and closes the link. */
  fail(err: ProtocolError): void {
    if (this.#closeReason !== undefined) return;
    this.#handlers.invalid(this, err);
    this.close('invalid_frame');
  }

  #onData(chunk: Buffer): void {
    const err = this.#decoder.push(chunk, (f) => {
      if (this.#closeReason === undefined) this.#handlers.frame(this, f);
    });
    if (err !== undefined) this.fail(err);
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#outBytes === 0 || this.#socket.destroyed) return;
    const buf = this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out, this.#outBytes);
    this.#out = [];
    this.#outBytes = 0;
    this.#socket.write(buf);
    this.#progress.wrote();
  }
}
