import type { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import { AuthError, AuthErrorCode, type Authenticator, type Identity } from './auth.ts';
import { deadline } from '../threads/deadline.ts';

/** How long a login waits for Redis before it is refused (AUTH_STATUS 1): a client retries. */
const WAIT_MS = 1000;

/**
 * GoBelieve's token store: hash `access_token_<token>` with `user_id` and `app_id`. A user's
 * preferences live in hash `users_<appid>_<uid>` (`notification_on`, `unread`).
 */
export class RedisAuthenticator implements Authenticator {
  readonly #redis: Redis;
  constructor(url: string) {
    // The offline queue lets the first logins wait for the first connection; the deadline
    // below keeps any wait short when Redis is away.
    // Required here, not imported: a thread that never uses Redis does not pay ~2 MiB of heap for it.
    const { Redis: Client } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
    this.#redis = new Client(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: WAIT_MS });
    this.#redis.on('error', () => {}); // reported per request as ERR_AUTH_UNAVAILABLE
  }

  async authenticate(token: string): Promise<Identity> {
    let fields: Record<string, string>;
    let notification: string | null;
    try {
      fields = await deadline(this.#redis.hgetall(`access_token_${token}`), WAIT_MS, 'redis HGETALL');
    } catch (err) {
      throw new AuthError(AuthErrorCode.UNAVAILABLE, 'token store unreachable', { cause: err });
    }
    const appid = Number(fields.app_id);
    const uid = Number(fields.user_id);
    if (!Number.isSafeInteger(appid) || !Number.isSafeInteger(uid) || fields.app_id === undefined || fields.user_id === undefined) {
      throw new AuthError(AuthErrorCode.INVALID, 'unknown token');
    }
    try {
      notification = await deadline(this.#redis.hget(`users_${appid}_${uid}`, 'notification_on'), WAIT_MS, 'redis HGET');
    } catch {
      notification = null;
    }
    return { appid, uid, notificationOn: notification === null ? undefined : notification === '1' };
  }

  async setUnread(appid: number, uid: number, count: number): Promise<void> {
    await deadline(this.#redis.hset(`users_${appid}_${uid}`, 'unread', String(count)), WAIT_MS, 'redis HSET');
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
