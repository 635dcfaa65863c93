import type net from 'node:net';
import { STALL_MS } from '../config/limits.ts';

/**
 * Tells a burst from a stall on one socket. Past its byte limit, a link drops what would
 * grow the backlog; it is closed only once the socket has taken nothing for STALL_MS.
 * Progress is read from the socket's counters when asked, so writes carry no callback.
 */
export class WriteProgress {
  readonly #socket: net.Socket;
  readonly #onStall: () => void;
  /** Bytes the kernel had taken when last looked at, and when that changed. */
  #taken = 0;
  #at = performance.now();
  #watching = false;
  /** The socket's unsent bytes after the last write: they only shrink until the next one. */
  #sent = 0;

  constructor(socket: net.Socket, onStall: () => void) {
    this.#socket = socket;
    this.#onStall = onStall;
  }

  /** After each write. */
  wrote(): void {
    this.#sent = this.#socket.writableLength;
  }

  /**
   * Whether `bytes` more would pass `limit` with what the socket holds unsent. The socket is
   * asked only when the backlog of the last write says the limit may be reached.
   */
  exceeds(bytes: number, limit: number): boolean {
    if (this.#sent + bytes <= limit) return false;
    this.#sent = this.#socket.writableLength;
    return this.#sent + bytes > limit;
  }

  /**
   * Over the limit now: true when the socket has stopped taking writes. Otherwise false,
   * and onStall is called later if it takes nothing more within STALL_MS.
   */
  stalled(): boolean {
    if (this.#idle()) return true;
    this.#watch();
    return false;
  }

  #idle(): boolean {
    const s = this.#socket;
    const now = performance.now();
    const taken = (s.bytesWritten ?? 0) - s.writableLength;
    if (taken !== this.#taken || s.writableLength === 0) {
      this.#taken = taken;
      this.#at = now;
      return false;
    }
    return now - this.#at > STALL_MS;
  }

  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    setTimeout(() => {
      this.#watching = false;
      const s = this.#socket;
      if (s.destroyed || s.writableLength === 0) return;
      if (this.#idle()) this.#onStall();
      else this.#watch();
    }, STALL_MS + 1).unref();
  }
}
