import type { MessagePort } from 'node:worker_threads';

/**
 * Bytes one thread has posted to another through a MessagePort and the other has not yet
 * handled. A port's queue has no bound: a thread that reads a flood faster than the thread
 * it hands the flood to can handle it piles the difference up in native memory, where
 * neither heap counts it, and every message behind it waits its turn (seconds). The sender
 * counts what it posts and the receiver what it has handled, each in its own word of a
 * small SharedArrayBuffer, so that the sender knows its backlog without a message back.
 */
export class Backlog {
  readonly buffer: SharedArrayBuffer;
  readonly #words: Int32Array;

  constructor(buffer = new SharedArrayBuffer(8)) {
    this.buffer = buffer;
    this.#words = new Int32Array(buffer);
  }

  /** The sender posted `n` bytes. */
  posted(n: number): void {
    Atomics.add(this.#words, 0, n);
  }

  /** The receiver handled `n` bytes. */
  taken(n: number): void {
    Atomics.add(this.#words, 1, n);
  }

  /** Posted and not yet handled (the counts wrap; their difference does not, below 2 GiB). */
  get bytes(): number {
    return (Atomics.load(this.#words, 0) - Atomics.load(this.#words, 1)) | 0;
  }
}

/**
 * One end of a link between two threads: the port, the backlog of what this end sends, and
 * that of what it receives (the other end's `out`).
 */
export interface LinkEnd {
  port: MessagePort;
  out: SharedArrayBuffer;
  in: SharedArrayBuffer;
}

/** A MessageChannel with a backlog each way: both ends, to hand to their two threads. */
export function linkPair(channel: { port1: MessagePort; port2: MessagePort }): [LinkEnd, LinkEnd] {
  const ab = new SharedArrayBuffer(8);
  const ba = new SharedArrayBuffer(8);
  return [{ port: channel.port1, out: ab, in: ba }, { port: channel.port2, out: ba, in: ab }];
}
