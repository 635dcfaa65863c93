import type { MessageSave, Page, QueueRef, Saved, StoredMessage } from './types.ts';

/** What a shard (or the main thread) asks the store thread; structured-cloned, batched per turn. */
export type StoreRequest =
  | ({ op: 'save' } & MessageSave)
  | { op: 'page'; q: QueueRef; after: number; limit: number }
  | { op: 'newestPage'; q: QueueRef; after: number; limit: number }
  | { op: 'nthNewest'; q: QueueRef; after: number; n: number }
  | { op: 'latest'; appid: number; uid: number; cmds: number[]; limit: number }
  | { op: 'acked'; appid: number; uid: number; gid: number }
  | { op: 'ack'; appid: number; uid: number; gid: number; key: number }
  | { op: 'count'; appid: number; uid: number; after: number };

export interface StoreResults {
  save: Saved[];
  page: Page;
  newestPage: Page;
  nthNewest: number;
  latest: StoredMessage[];
  acked: number;
  ack: undefined;
  count: number;
}

/** One turn's requests from one thread: [request id, request]. */
export type StoreBatch = [number, StoreRequest][];
/** The answers: [request id, error message or null, result]. */
export type StoreReplies = [number, string | null, unknown][];

export interface StoreStats {
  engine: string;
  up: boolean;
  saved: number;
  saveBatches: number;
  syncs: number;
  errors: number;
  swept: number;
  /** Save latency (one batch, one transaction), microseconds. */
  saveUs: { count: number; p50: number; p99: number; max: number };
  /** Times the store thread was replaced (filled in by the main thread). */
  restarts?: number;
  /** This thread's V8 heap in use and its memory outside the heap (Buffers), bytes. */
  heapUsed: number;
  external: number;
}
