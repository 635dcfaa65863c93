import type net from 'node:net';

/**
 * A peer that has taken none of our writes for this long, with more than the limit
 * waiting, has stopped reading (a stopped process, a stalled host). One that reads slowly
 * takes some of every burst well within it: a write is at most a batch.
 */
export const STALL_MS = 2000;

/**
 * Tells a burst from a stall on one socket. Past its byte limit, a link drops what would
 * grow the backlog; it is closed only once the socket has taken nothing for STALL_MS.
 */
export class WriteProgress {
  readonly #socket: net.Socket;
  readonly #onStall: () => void;
  #at = performance.now();
  #watching = false;
  /** The write callback: the socket took a write. */
  readonly taken = (): void => { this.#at = performance.now(); };

  constructor(socket: net.Socket, onStall: () => void) {
    this.#socket = socket;
    this.#onStall = onStall;
  }

  /** Before each write: a socket with nothing waiting was keeping up until now. */
  writing(): void {
    if (this.#socket.writableLength === 0) this.#at = performance.now();
  }

  /**
   * Over the limit now: true when the socket has stopped taking writes. Otherwise false,
   * and onStall is called later if it takes nothing more within STALL_MS.
   */
  stalled(): boolean {
    if (this.#socket.writableLength > 0 && performance.now() - this.#at > STALL_MS) return true;
    this.#watch();
    return false;
  }

  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    setTimeout(() => {
      this.#watching = false;
      const s = this.#socket;
      if (s.destroyed || s.writableLength === 0) return;
      if (performance.now() - this.#at >= STALL_MS) this.#onStall();
      else this.#watch();
    }, STALL_MS).unref();
  }
}
