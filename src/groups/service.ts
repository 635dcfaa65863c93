import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import { deadline } from '../threads/deadline.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';
import type { Logger } from '../log/logger.ts';
import type { Group, GroupSource, NewGroup } from './source.ts';
import { SqliteGroupSource } from './sqlite.ts';
import { MysqlGroupSource } from './mysql.ts';

const GROUP_CHANGES_CHANNEL = 'im_group_changes';

export function createGroupSource(o: { mysqlUrl: string | undefined; groupDb: string }): GroupSource {
  return o.mysqlUrl !== undefined ? new MysqlGroupSource(o.mysqlUrl) : new SqliteGroupSource(o.groupDb);
}

/**
 * The server's group membership, in the main thread: shards load groups through it, admin
 * requests change them through it. Every change invalidates the group on every shard before
 * the request is answered, and, with Redis, on every other access server through a pub/sub
 * channel.
 */
export class GroupService {
  readonly #source: GroupSource;
  readonly #invalidate: (appid: number, gid: number) => Promise<void>;
  readonly #log: Logger;
  readonly #origin = randomUUID();
  #pub: Redis | undefined;
  #sub: Redis | undefined;

  constructor(source: GroupSource, invalidate: (appid: number, gid: number) => Promise<void>, log: Logger) {
    this.#source = source;
    this.#invalidate = invalidate;
    this.#log = log;
  }

  /**
   * Subscribes to group changes made on other servers. Does not wait for Redis: a server
   * whose Redis is away starts all the same (its /healthz says so) and subscribes as soon
   * as Redis answers (the client library resubscribes on every reconnect).
   */
  listen(redisUrl: string): void {
    // Required here, not imported: a server without Redis does not pay ~2 MiB of heap for it.
    const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
    this.#pub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.#sub = new Redis(redisUrl);
    const away = new RateLimitedLog(60_000);
    for (const r of [this.#pub, this.#sub]) {
      r.on('error', (err: Error) => away.warn(this.#log, 'Redis (IM_REDIS_URL) unreachable: group changes from other servers wait; Redis logins are refused', { err: err.message }));
    }
    this.#sub.on('message', (_channel: string, text: string) => {
      try {
        const m = JSON.parse(text) as { appid: number; group_id: number; origin: string };
        if (m.origin !== this.#origin) void this.#invalidate(m.appid, m.group_id);
      } catch (err) {
        this.#log.warn({ err, text }, 'bad group change message');
      }
    });
    this.#sub.subscribe(GROUP_CHANGES_CHANNEL).catch((err: unknown) => away.warn(this.#log, 'group change channel: subscribe failed', { err: (err as Error).message }));
  }

  load(appid: number, gid: number): Promise<Group | null> {
    return this.#source.load(appid, gid);
  }

  /** The group source and, when configured, Redis (the change channel): each answers or not. */
  async health(ms: number): Promise<{ groups: boolean; redis: boolean | 'off' }> {
    const answers = (p: Promise<unknown>) => deadline(p, ms, 'ping').then(() => true, () => false);
    const [groups, redis] = await Promise.all([
      answers(this.#source.ping()),
      this.#pub === undefined ? 'off' as const : answers(this.#pub.ping()),
    ]);
    return { groups, redis };
  }

  async create(g: NewGroup): Promise<number> {
    const id = await this.#source.create(g);
    await this.#changed(g.appid, id);
    return id;
  }

  disband(appid: number, gid: number): Promise<boolean> {
    return this.#change(appid, gid, () => this.#source.disband(appid, gid));
  }

  addMembers(appid: number, gid: number, uids: number[]): Promise<boolean> {
    return this.#change(appid, gid, () => this.#source.addMembers(appid, gid, uids));
  }

  removeMembers(appid: number, gid: number, uids: number[]): Promise<boolean> {
    return this.#change(appid, gid, () => this.#source.removeMembers(appid, gid, uids));
  }

  setMute(appid: number, gid: number, uid: number, mute: boolean): Promise<boolean> {
    return this.#change(appid, gid, () => this.#source.setMute(appid, gid, uid, mute));
  }

  upgrade(appid: number, gid: number): Promise<boolean> {
    return this.#change(appid, gid, () => this.#source.upgrade(appid, gid));
  }

  async close(): Promise<void> {
    this.#sub?.disconnect();
    this.#pub?.disconnect();
    await this.#source.close();
  }

  async #change(appid: number, gid: number, op: () => Promise<boolean>): Promise<boolean> {
    const ok = await op();
    if (ok) await this.#changed(appid, gid);
    return ok;
  }

  async #changed(appid: number, gid: number): Promise<void> {
    await this.#invalidate(appid, gid);
    if (this.#pub !== undefined) {
      await this.#pub.publish(GROUP_CHANGES_CHANNEL, JSON.stringify({ appid, group_id: gid, origin: this.#origin }))
        .catch((err: Error) => this.#log.warn({ err: err.message }, 'group change not published'));
    }
  }
}
