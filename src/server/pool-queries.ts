import type { ChannelStats } from '../channel/channel.ts';
import type { PostRequest } from '../shard/control.ts';
import type { ShardReport } from '../shard/stats.ts';
import type { StoreStats } from '../store/protocol.ts';
import { deadline } from '../threads/deadline.ts';
import type { ShardPool } from './shard-pool.ts';

/** No shard is up to take a request (all are being replaced). */
export class NoShardError extends Error {
  override readonly name = 'NoShardError';
}

export interface Health {
  shards: boolean[];
  channel: boolean | 'standalone';
  store: boolean | 'off';
}

/**
 * What the HTTP API, /metrics, the dashboard and the dependency check ask of the server's
 * threads. Every call is bounded (IM_CONTROL_TIMEOUT_MS); a shard that misses its deadline
 * is left to the pool's supervision (ShardPool.ask).
 */
export class PoolQueries {
  readonly #pool: ShardPool;
  readonly #timeoutMs: number;
  /** What a post may wait: its group's load and its save, each bounded on the shard, and the call itself. */
  readonly #postBudgetMs: number;
  #nextPost = 0;

  constructor(pool: ShardPool, timeouts: { controlMs: number; storeMs: number }) {
    this.#pool = pool;
    this.#timeoutMs = timeouts.controlMs;
    this.#postBudgetMs = 2 * timeouts.controlMs + timeouts.storeMs;
  }

  /** The reports of the shards that answer in time. */
  async reports(): Promise<ShardReport[]> {
    const pool = this.#pool;
    const all = await Promise.allSettled(pool.shards.map((h) => pool.ask(h, 'report', (c) => c.report())));
    return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /**
   * Routes a posted message on the next live shard, in turn. The shard fails it once the
   * store or the group source has not answered within its own deadline; the call's budget
   * is larger, so that a post waiting on a dependency is never what takes a shard for hung.
   */
  post(p: PostRequest): Promise<number> {
    const live = this.#pool.shards.filter((h) => h.ready && !h.dead);
    if (live.length === 0) return Promise.reject(new NoShardError('no shard is running'));
    const h = live[this.#nextPost++ % live.length]!;
    return this.#pool.ask(h, 'post', (c) => c.post(p), this.#postBudgetMs);
  }

  /** Drops a group from every shard's cache; resolves once all live ones have. */
  async invalidateGroup(appid: number, gid: number): Promise<void> {
    const pool = this.#pool;
    await Promise.allSettled(pool.shards.filter((h) => !h.dead).map((h) => pool.ask(h, 'invalidateGroup', (c) => c.invalidateGroup(appid, gid))));
  }

  async channelStats(): Promise<ChannelStats | undefined> {
    const channel = this.#pool.channel;
    if (channel === undefined) return undefined;
    return deadline(channel.control.stats(), this.#timeoutMs, 'channel stats').catch(() => undefined);
  }

  async storeStats(): Promise<StoreStats | undefined> {
    const store = this.#pool.store;
    if (store === undefined) return undefined;
    const restarts = store.restarts;
    return deadline(store.control.stats(), this.#timeoutMs, 'store stats').then((s) => ({ ...s, restarts }), () => undefined);
  }

  /** Whether the store thread answers a ping within `ms`; false with the store off. */
  async storeUp(ms: number): Promise<boolean> {
    const store = this.#pool.store;
    return store !== undefined && deadline(store.control.ping(), ms, 'store ping').then((v) => v !== false, () => false);
  }

  /** Each part's answer to a ping within `ms`: shards, the Channel ('standalone' when none), the store ('off'). */
  async health(ms: number): Promise<Health> {
    const { shards, channel, store } = this.#pool;
    const answered = (p: Promise<unknown>) => deadline(p, ms, 'ping').then((v) => v !== false, () => false);
    const [s, c, st] = await Promise.all([
      Promise.all(shards.map((h) => (h.dead ? Promise.resolve(false) : answered(h.control.ping())))),
      channel === undefined ? 'standalone' as const : answered(channel.control.ping()),
      store === undefined ? 'off' as const : this.storeUp(ms),
    ]);
    return { shards: s, channel: c, store: st };
  }

  /** Connections each shard index lost with a shard that died. */
  get lostWithShard(): ReadonlyMap<number, number> {
    return this.#pool.lostWithShard;
  }
}
