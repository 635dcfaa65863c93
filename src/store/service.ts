import type { MessagePort } from 'node:worker_threads';
import { latencyHistogram, summarize } from '../threads/latency.ts';
import type { Logger } from '../log/logger.ts';
import type { StoreBatch, StoreReplies, StoreRequest, StoreStats } from './protocol.ts';
import { StoreError, perMessage, type MessageSave, type Saved, type StoreEngine } from './types.ts';
import { threadMemory } from '../threads/memory.ts';

export interface StoreServiceOptions {
  engine: StoreEngine;
  name: string;
  /** 0: keep messages for ever. */
  retentionDays: number;
  log: Logger;
  /**
   * A task (one batch, one sweep) still unfinished after this long means the engine will
   * never answer it (a driver stuck on a dead connection): `onHung` is called, and the
   * store thread ends itself so that a fresh one, with a fresh driver, takes over.
   */
  hungMs: number;
  onHung(err: StoreError): void;
}

const SWEEP_EVERY_MS = 1000;
const SWEEP_ROWS = 2000;

/**
 * The store thread: the only writer of the store (of this server's part of a shared one).
 * Each batch a thread posts (one turn of its requests) is served saves first, then reads.
 * With the embedded engine the batches are served one after the other, a batch's saves in
 * one transaction; an engine with lanes (PostgreSQL) takes batches as they come and keeps
 * each queue's order itself. A retention sweep deletes old messages a few thousand at a
 * time between batches, so it never holds saving up for long.
 */
export class StoreService {
  readonly #engine: StoreEngine;
  readonly #name: string;
  readonly #log: Logger;
  readonly #retentionMs: number;
  readonly #latency = latencyHistogram();
  #queue: Promise<void> = Promise.resolve();
  #sweeper: NodeJS.Timeout | undefined;
  readonly #watchdog: NodeJS.Timeout;
  /** Saving and reading are healthy apart: a full disk fails saves while reads (and pings) succeed. */
  #writesOk = true;
  #readsOk = true;
  #saved = 0;
  #batches = 0;
  #syncs = 0;
  #errors = 0;
  #swept = 0;

  constructor(o: StoreServiceOptions) {
    this.#engine = o.engine;
    this.#name = o.name;
    this.#log = o.log;
    this.#retentionMs = o.retentionDays * 86_400_000;
    if (this.#retentionMs > 0) {
      this.#sweeper = setInterval(() => this.#serially(() => this.#sweep()), SWEEP_EVERY_MS);
      this.#sweeper.unref();
    }
    this.#watchdog = setInterval(() => {
      const oldest = this.#oldestTask();
      if (oldest === 0 || performance.now() - oldest < o.hungMs) return;
      clearInterval(this.#watchdog);
      o.onHung(new StoreError('ERR_STORE_HUNG', `the message store (${this.#name}) has not answered a call for ${o.hungMs} ms`));
    }, Math.min(1000, o.hungMs));
    this.#watchdog.unref();
  }

  listen(port: MessagePort): void {
    port.on('message', (batch: StoreBatch) => {
      const task = async () => port.postMessage(await this.#serve(batch));
      // An engine with lanes keeps each queue's order itself: batches need not wait for each other.
      if (this.#engine.saveInLanes !== undefined) void this.#concurrently(task);
      else void this.#serially(task);
    });
  }

  stats(): StoreStats {
    return {
      engine: this.#name, up: this.#up, saved: this.#saved, saveBatches: this.#batches, syncs: this.#syncs, errors: this.#errors, swept: this.#swept,
      saveUs: summarize(this.#latency),
      ...threadMemory(),
    };
  }

  get #up(): boolean {
    return this.#writesOk && this.#readsOk;
  }

  /** Whether the engine answers now and the last save succeeded. */
  async ping(): Promise<boolean> {
    try {
      await this.#engine.ping();
      this.#healthy('reads');
    } catch (err) {
      this.#failed(err, 'reads', false);
    }
    return this.#up;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    clearInterval(this.#watchdog);
    await this.#queue;
    await Promise.all(this.#running.keys());
    await this.#engine.close();
  }

  /** The last batch's reads: the next batch's wait for them (see #serve). */
  #reads: Promise<unknown> = Promise.resolve();

  /** Tasks in progress, serial or not, with when each began: what the watchdog looks at. */
  readonly #running = new Map<Promise<void>, number>();

  /** Runs `fn` now, tracked until it settles. */
  #concurrently(fn: () => Promise<void>): Promise<void> {
    const p: Promise<void> = fn().catch((err: unknown) => this.#log.error({ err }, 'store task failed')).finally(() => this.#running.delete(p));
    this.#running.set(p, performance.now());
    return p;
  }

  /** The oldest task still unfinished began then (0: none). */
  #oldestTask(): number {
    let oldest = 0;
    for (const at of this.#running.values()) if (oldest === 0 || at < oldest) oldest = at;
    return oldest;
  }

  /** Batches are served one after the other: a thread's requests keep their order. */
  #serially(fn: () => Promise<void>): Promise<void> {
    const task = () => this.#concurrently(fn);
    this.#queue = this.#queue.then(task, task);
    return this.#queue;
  }

  async #serve(batch: StoreBatch): Promise<StoreReplies> {
    const replies: StoreReplies = [];
    const saves: [number, MessageSave][] = [];
    for (const [id, r] of batch) if (r.op === 'save') saves.push([id, r]);
    const saved = saves.length > 0 ? this.#saveAll(saves, replies) : undefined;
    // Reads and acknowledged keys in the order the batches came, each after its own batch's
    // saves, whatever lanes those run in: a SYNC(0) after a SYNC_KEY sees that key.
    const turn = this.#reads.then(() => saved).then(() => this.#readAll(batch, replies));
    this.#reads = turn.catch(() => {});
    await turn;
    return replies;
  }

  async #readAll(batch: StoreBatch, replies: StoreReplies): Promise<void> {
    for (const [id, r] of batch) {
      if (r.op === 'save') continue;
      try {
        replies.push([id, null, await this.#read(r)]);
        this.#healthy(r.op === 'ack' ? 'writes' : 'reads');
      } catch (err) {
        this.#failed(err, r.op === 'ack' ? 'writes' : 'reads');
        replies.push([id, (err as Error).message, undefined]);
      }
    }
  }

  /**
   * The batch's saves, one message a request: through the engine's lanes (each message its
   * own result, whole or not at all), or in one transaction (all of them succeed or fail
   * together).
   */
  async #saveAll(saves: [number, MessageSave][], replies: StoreReplies): Promise<void> {
    const t0 = performance.now();
    const e = this.#engine;
    const messages = saves.map(([, m]) => m);
    let results: (Saved[] | Error)[];
    if (e.saveInLanes !== undefined) {
      results = await e.saveInLanes(messages);
    } else {
      const saved = await e.save(messages.flatMap((m) => m.items)).catch((err: Error) => err);
      results = saved instanceof Error ? messages.map(() => saved) : perMessage(messages, saved);
    }
    this.#latency.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    this.#batches++;
    let failed: Error | undefined;
    saves.forEach(([id, m], i) => {
      const r = results[i]!;
      if (r instanceof Error) {
        failed = r;
        replies.push([id, r.message, undefined]);
      } else {
        this.#saved += m.items.length;
        replies.push([id, null, r]);
      }
    });
    if (failed === undefined) this.#healthy('writes');
    else this.#failed(failed, 'writes');
  }

  #read(r: Exclude<StoreRequest, { op: 'save' }>): Promise<unknown> {
    const e = this.#engine;
    switch (r.op) {
      case 'page': this.#syncs++; return e.page(r.q, r.after, r.limit);
      case 'newestPage': this.#syncs++; return e.newestPage(r.q, r.after, r.limit);
      case 'nthNewest': return e.nthNewest(r.q, r.after, r.n);
      case 'latest': return e.latest(r.appid, r.uid, r.cmds, r.limit);
      case 'acked': return e.acked(r.appid, r.uid, r.gid);
      case 'ack': return e.ack(r.appid, r.uid, r.gid, r.key);
      case 'count': return e.countAfter(r.appid, r.uid, r.after);
    }
  }

  async #sweep(): Promise<void> {
    try {
      this.#swept += await this.#engine.sweep(Date.now() - this.#retentionMs, SWEEP_ROWS);
    } catch (err) {
      this.#failed(err, 'writes');
    }
  }

  #healthy(what: 'reads' | 'writes'): void {
    const was = this.#up;
    if (what === 'reads') this.#readsOk = true;
    else this.#writesOk = true;
    if (!was && this.#up) this.#log.info({ store: this.#name }, 'message store reachable again');
  }

  /** One log line when the store goes from healthy to failing, not one per failed call. */
  #failed(err: unknown, what: 'reads' | 'writes', counted = true): void {
    if (counted) this.#errors++;
    const was = this.#up;
    if (what === 'reads') this.#readsOk = false;
    else this.#writesOk = false;
    if (was) this.#log.error({ store: this.#name, failing: what, err: (err as Error).message }, 'message store failed');
  }
}
