import { AckStatus } from '../protocol/index.ts';
import type { Group } from '../groups/source.ts';
import type { GroupCache } from '../groups/cache.ts';
import type { Logger } from '../log/logger.ts';
import type { GroupLookup } from './delivery.ts';
import type { ShardStats } from './stats.ts';

export const GroupSend = { OK: 0, NOT_MEMBER: AckStatus.NOT_GROUP_MEMBER, NO_GROUP: AckStatus.GROUP_NONEXISTENT, MUTED: -1 } as const;

/** Whether `sender` may post to the group: a GroupSend code. */
export function mayPost(g: Group | null, sender: number): number {
  if (g === null) return GroupSend.NO_GROUP;
  const muted = g.members.get(sender);
  if (muted === undefined) return GroupSend.NOT_MEMBER;
  return muted ? GroupSend.MUTED : GroupSend.OK;
}

/** A shard's groups: its cache of the group source. */
export class ShardGroups implements GroupLookup {
  readonly cache: GroupCache;
  readonly #stats: ShardStats;
  readonly #log: Logger;

  constructor(cache: GroupCache, stats: ShardStats, log: Logger) {
    this.cache = cache;
    this.#stats = stats;
    this.#log = log;
  }

  /** The group, loaded into the cache if need be (null: none in that app). */
  load(appid: number, gid: number): Promise<Group | null> {
    return Promise.resolve(this.cache.get(appid, gid));
  }

  /** `then` with the group: in this turn when it is cached, else once it has loaded. */
  withGroup(appid: number, gid: number, then: (g: Group | null) => void): void {
    const g = this.cache.get(appid, gid);
    if (g === null || !(g instanceof Promise)) return then(g);
    g.then(then, (err: unknown) => this.#log.error({ err, appid, gid }, 'group load failed')).catch((err: unknown) => {
      this.#stats.internalErrors++;
      this.#log.error({ err, appid, gid }, 'group message failed after its group loaded');
    });
  }
}
