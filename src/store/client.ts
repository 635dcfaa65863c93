import type { MessagePort } from 'node:worker_threads';
import type { StoreBatch, StoreReplies, StoreRequest, StoreResults } from './protocol.ts';
import { StoreError } from './types.ts';
import { Outlet, atEndOfTurn } from '../threads/turn.ts';
import { after } from '../threads/deadline.ts';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  op: string;
}

/**
 * A thread's side of the store thread: requests made in one event-loop turn go out as one
 * message (the store makes one transaction of their saves) and each resolves with its own
 * answer. Every request has a deadline, one for each turn's batch (threads/deadline.ts): a
 * store that does not answer in time fails the request, as an unreachable one does (no ACK,
 * no sync reply; the client retries). A store
 * thread that dies closes its end of the port: what was in flight fails at once, and so
 * does every request until the replacement's port arrives (setPort).
 */
export class StoreClient {
  #port: MessagePort;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #batch: StoreBatch = [];
  #nextId = 1;
  /** The store thread's port closed: requests fail at once until setPort. */
  #lost = false;
  readonly #flush = () => this.flush();

  constructor(port: MessagePort, timeoutMs: number) {
    this.#port = port;
    this.#timeoutMs = timeoutMs;
    this.#listen(port);
  }

  /** A restarted store thread: ask the new one; what the old one still held fails now. */
  setPort(port: MessagePort): void {
    const old = this.#port;
    this.#port = port;
    this.#lost = false;
    this.#batch = [];
    old.close();
    this.#failAll('the store thread was replaced');
    this.#listen(port);
  }

  call<K extends StoreRequest['op']>(req: Extract<StoreRequest, { op: K }>): Promise<StoreResults[K]> {
    if (this.#lost) return Promise.reject(new StoreError('ERR_STORE_LOST', `the store thread is gone (${req.op}); it is being replaced`));
    const id = this.#nextId++;
    if (this.#batch.length === 0) atEndOfTurn(Outlet.STORE, this.#flush);
    this.#batch.push([id, req]);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, op: req.op });
    });
  }

  flush(): void {
    if (this.#batch.length === 0 || this.#lost) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#port.postMessage(batch);
    // A batch's ids are consecutive: the deadline keeps two numbers, not the requests (their
    // bodies would otherwise stay in memory for the whole wait).
    const first = batch[0]![0];
    const last = batch[batch.length - 1]![0];
    after(this.#timeoutMs, () => this.#expire(first, last));
  }

  /** What of the requests `first` to `last` is still unanswered fails: the store did not answer in time. */
  #expire(first: number, last: number): void {
    for (let id = first; id <= last; id++) {
      const p = this.#pending.get(id);
      if (p === undefined) continue;
      this.#pending.delete(id);
      p.reject(new StoreError('ERR_STORE_TIMEOUT', `the store did not answer ${p.op} within ${this.#timeoutMs} ms`));
    }
  }

  #listen(port: MessagePort): void {
    port.on('message', (replies: StoreReplies) => {
      for (const [id, err, value] of replies) {
        const p = this.#pending.get(id);
        if (p === undefined) continue; // timed out already
        this.#pending.delete(id);
        if (err === null) p.resolve(value);
        else p.reject(new StoreError('ERR_STORE', err));
      }
    });
    port.on('close', () => {
      if (port !== this.#port) return;
      this.#lost = true;
      this.#batch = [];
      this.#failAll('the store thread stopped');
    });
    port.unref();
  }

  #failAll(why: string): void {
    // Those batched but not yet posted are in #pending too.
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(new StoreError('ERR_STORE_LOST', `${why} before it answered`));
    }
  }
}
