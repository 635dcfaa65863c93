import { deadline } from '../threads/deadline.ts';
import { GroupSourceError, type Group } from './source.ts';

interface Entry {
  group: Group | null;
  used: number;
}

/**
 * A shard's view of group membership: loaded on first use through `loader` (one round trip
 * to the main thread, which owns the database), kept for later messages, bounded by `max`
 * groups (least recently used evicted) and dropped when idle. The main thread invalidates
 * an entry whenever the group changes, so membership is never stale for more than the
 * moment an invalidation takes to arrive. A load that fails or outlasts `loadTimeoutMs`
 * rejects with a GroupSourceError (and is not cached).
 */
export class GroupCache {
  readonly #loader: (appid: number, id: number) => Promise<Group | null>;
  readonly #max: number;
  readonly #idleMs: number;
  readonly #loadTimeoutMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Group | null>>();
  /** Bumped by each invalidation, so a load that raced with one is not cached. */
  #epoch = 0;
  loads = 0;

  constructor(loader: (appid: number, id: number) => Promise<Group | null>, max: number, idleMs: number, loadTimeoutMs: number) {
    this.#loader = loader;
    this.#max = max;
    this.#idleMs = idleMs;
    this.#loadTimeoutMs = loadTimeoutMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The group (null: no such group) right away when cached, else a promise of it. */
  get(appid: number, id: number): Group | null | Promise<Group | null> {
    const key = `${appid}:${id}`;
    const e = this.#entries.get(key);
    if (e !== undefined) {
      e.used = performance.now();
      // Refresh its place in the eviction order (Map iterates in insertion order).
      this.#entries.delete(key);
      this.#entries.set(key, e);
      return e.group;
    }
    let p = this.#pending.get(key);
    if (p === undefined) {
      const epoch = this.#epoch;
      this.loads++;
      p = deadline(this.#loader(appid, id), this.#loadTimeoutMs, `group ${appid}:${id} load`).then((group) => {
        this.#pending.delete(key);
        if (epoch === this.#epoch) this.#put(key, group);
        return group;
      }, (err: unknown) => {
        this.#pending.delete(key);
        throw new GroupSourceError(`the group source failed: ${(err as Error).message}`, { cause: err });
      });
      this.#pending.set(key, p);
    }
    return p;
  }

  invalidate(appid: number, id: number): void {
    this.#epoch++;
    this.#entries.delete(`${appid}:${id}`);
    this.#pending.delete(`${appid}:${id}`);
  }

  /** Drops groups not used for the idle time; the shard calls it now and then. */
  sweep(now = performance.now()): void {
    for (const [k, e] of this.#entries) if (now - e.used > this.#idleMs) this.#entries.delete(k);
  }

  #put(key: string, group: Group | null): void {
    this.#entries.set(key, { group, used: performance.now() });
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
