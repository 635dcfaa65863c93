import type { MessagePort } from 'node:worker_threads';
import type { StoreBatch, StoreReplies, StoreRequest, StoreResults } from './protocol.ts';
import { StoreError } from './types.ts';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A thread's side of the store thread: requests made in one event-loop turn go out as one
 * message (the store makes one transaction of their saves) and each resolves with its own
 * answer. Every request races a deadline: a store that does not answer in time fails the
 * request, as an unreachable one does (no ACK, no sync reply; the client retries).
 */
export class StoreClient {
  #port: MessagePort;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #batch: StoreBatch = [];
  #nextId = 1;
  readonly #flush = () => this.flush();

  constructor(port: MessagePort, timeoutMs: number) {
    this.#port = port;
    this.#timeoutMs = timeoutMs;
    this.#listen(port);
  }

  /** A restarted store thread: ask the new one (what was in flight fails by its deadline). */
  setPort(port: MessagePort): void {
    this.#port.close();
    this.#port = port;
    this.#listen(port);
  }

  call<K extends StoreRequest['op']>(req: Extract<StoreRequest, { op: K }>): Promise<StoreResults[K]> {
    const id = this.#nextId++;
    if (this.#batch.length === 0) setImmediate(this.#flush);
    this.#batch.push([id, req]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new StoreError('ERR_STORE_TIMEOUT', `the store did not answer ${req.op} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
    });
  }

  flush(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#port.postMessage(batch);
  }

  #listen(port: MessagePort): void {
    port.on('message', (replies: StoreReplies) => {
      for (const [id, err, value] of replies) {
        const p = this.#pending.get(id);
        if (p === undefined) continue; // timed out already
        this.#pending.delete(id);
        clearTimeout(p.timer);
        if (err === null) p.resolve(value);
        else p.reject(new StoreError('ERR_STORE', err));
      }
    });
    port.unref();
  }
}
