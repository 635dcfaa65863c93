import type { Connection } from './connection.ts';
import { MAX_WAITING_SYNCS } from '../config/limits.ts';


/**
 * A connection's sync replies, one at a time: the next is started once the one before has
 * been written and the socket takes more. A sync page is never dropped by the queue limit
 * (it must arrive whole), so a client that asks again and again without reading would
 * otherwise have the server hold a page per request. A waiting request is replaced by a
 * newer one with the same key (one for SYNC, one per group for SYNC_GROUP): the newer asks
 * for at least as much.
 */
export class SyncTurns {
  readonly #busy = new WeakSet<Connection>();
  readonly #waiting = new WeakMap<Connection, Map<string, (done: () => void) => void>>();

  /** Starts `reply` now or after the replies before it; false when too many are waiting. */
  run(c: Connection, key: string, reply: (done: () => void) => void): boolean {
    if (!this.#busy.has(c)) {
      this.#busy.add(c);
      reply(() => this.#done(c));
      return true;
    }
    let w = this.#waiting.get(c);
    if (w === undefined) this.#waiting.set(c, (w = new Map()));
    w.delete(key);
    w.set(key, reply);
    return w.size <= MAX_WAITING_SYNCS;
  }

  #done(c: Connection): void {
    c.whenWritten(() => this.#next(c));
  }

  #next(c: Connection): void {
    const w = this.#waiting.get(c);
    const first = w?.entries().next();
    if (w === undefined || first === undefined || first.done === true) {
      this.#busy.delete(c);
      return;
    }
    const [key, reply] = first.value;
    w.delete(key);
    reply(() => this.#done(c));
  }
}
