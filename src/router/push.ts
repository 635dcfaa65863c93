import { Redis, ReplyError } from 'ioredis';
import { Cmd, ProtocolError, codecByCmd, parseFrame } from '../protocol/index.ts';
import type { Logger } from '../log/logger.ts';

/** One RPUSH: the list and the JSON text of the item. */
export interface PushItem {
  queue: string;
  json: string;
}

export const PushQueue = {
  PEER: 'push_queue',
  GROUP: 'group_push_queue',
  SYSTEM: 'system_push_queue',
  CUSTOMER: 'customer_push_queue_v2',
} as const;

/**
 * The offline-push items for a message whose receivers are online nowhere, in the queue
 * layouts of PROTOCOL.md. Only IM, GROUP_IM, SYSTEM and CUSTOMER_V2 are pushed; anything
 * else (or an embedded frame that does not parse) yields nothing.
 */
export function pushItems(appid: number, receivers: readonly number[], message: Buffer): PushItem[] {
  if (receivers.length === 0) return [];
  const frame = parseFrame(message);
  if (frame instanceof ProtocolError) return [];
  const codec = codecByCmd[frame.cmd];
  if (codec === undefined) return [];
  const m = codec.forVersion(frame.version).decode(frame.body, 0, frame.body.length) as Record<string, unknown> | ProtocolError;
  if (m instanceof ProtocolError) return [];
  const content = (m.content as Buffer).toString('utf8');
  switch (frame.cmd) {
    case Cmd.IM:
      return receivers.map((receiver) => ({
        queue: PushQueue.PEER,
        json: JSON.stringify({ appid, sender: m.sender, receiver, content }),
      }));
    case Cmd.GROUP_IM:
      return [{
        queue: PushQueue.GROUP,
        json: JSON.stringify({ appid, sender: m.sender, receivers, content, group_id: m.receiver }),
      }];
    case Cmd.SYSTEM:
      return receivers.map((receiver) => ({ queue: PushQueue.SYSTEM, json: JSON.stringify({ appid, receiver, content }) }));
    case Cmd.CUSTOMER_V2:
      return receivers.map((receiver) => ({
        queue: PushQueue.CUSTOMER,
        json: JSON.stringify({
          appid, sender_appid: m.sender_appid, sender: m.sender, receiver_appid: m.receiver_appid, receiver, content,
        }),
      }));
    default:
      return [];
  }
}

export interface PushStats {
  /** Items handed to the sink (or to the log when there is no Redis). */
  queued: number;
  /** Items Redis acknowledged. */
  pushed: number;
  /** Items dropped because Redis stayed unreachable past the buffer limit, or failed. */
  dropped: number;
  /** Items waiting for Redis now. */
  buffered: number;
}

export interface PushSink {
  push(items: PushItem[]): void;
  stats(): PushStats;
  close(): Promise<void>;
}

/** No Redis configured: offline pushes are counted and logged at debug level. */
export class LogPushSink implements PushSink {
  readonly #log: Logger;
  #queued = 0;
  constructor(log: Logger) {
    this.#log = log;
  }
  push(items: PushItem[]): void {
    this.#queued += items.length;
    for (const it of items) this.#log.debug({ queue: it.queue, item: it.json }, 'offline push (no IMR_REDIS_URL)');
  }
  stats(): PushStats {
    return { queued: this.#queued, pushed: 0, dropped: 0, buffered: 0 };
  }
  async close(): Promise<void> {}
}

/**
 * RPUSHes offline pushes to Redis, one pipeline per event-loop turn. Routing never waits for
 * it: while Redis is unreachable, items wait in a bounded buffer (oldest dropped and counted
 * beyond `limit`) and go out when the connection is ready again.
 */
export class RedisPushSink implements PushSink {
  readonly #redis: Redis;
  readonly #limit: number;
  readonly #log: Logger;
  #pending: PushItem[] = [];
  #scheduled = false;
  #inFlight = 0;
  #queued = 0;
  #pushed = 0;
  #dropped = 0;

  constructor(url: string, limit: number, log: Logger) {
    this.#limit = limit;
    this.#log = log;
    this.#redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(100 * 2 ** times, 5000),
    });
    this.#redis.on('ready', () => this.#schedule());
    this.#redis.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'redis push connection error'));
  }

  push(items: PushItem[]): void {
    this.#queued += items.length;
    for (const it of items) this.#pending.push(it);
    const over = this.#pending.length - this.#limit;
    if (over > 0) {
      this.#pending.splice(0, over);
      this.#dropped += over;
    }
    this.#schedule();
  }

  stats(): PushStats {
    return { queued: this.#queued, pushed: this.#pushed, dropped: this.#dropped, buffered: this.#pending.length + this.#inFlight };
  }

  /** Resolves once everything buffered has been written (or Redis is unreachable). */
  async flush(): Promise<void> {
    while ((this.#pending.length > 0 || this.#inFlight > 0) && this.#redis.status === 'ready') {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.#redis.disconnect();
  }

  #schedule(): void {
    if (this.#scheduled || this.#pending.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#write();
    });
  }

  #write(): void {
    if (this.#redis.status !== 'ready' || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    const pipe = this.#redis.pipeline();
    for (const it of batch) pipe.rpush(it.queue, it.json);
    this.#inFlight += batch.length;
    pipe.exec().then((results) => {
      this.#inFlight -= batch.length;
      // An error reply about the item (say, the key holds another type) will not heal by
      // retrying: count it. Anything else (the connection closed under the pipeline, the
      // server refusing clients) is Redis being away: those items wait for the next connection.
      const retry: PushItem[] = [];
      let rejected = 0;
      let why = '';
      (results ?? []).forEach(([err], i) => {
        if (err === null) return;
        why ||= String(err);
        if (err instanceof ReplyError && !/max number of clients|LOADING|BUSY|READONLY|MASTERDOWN/.test(String(err))) rejected++;
        else retry.push(batch[i]!);
      });
      this.#pushed += batch.length - rejected - retry.length;
      this.#dropped += rejected;
      if (rejected > 0) this.#log.warn({ err: why, items: rejected }, 'redis rejected offline pushes');
      if (retry.length > 0) this.#requeue(retry);
    }, (err: Error) => {
      // The connection went away mid-pipeline: keep the batch for the next connection.
      this.#inFlight -= batch.length;
      this.#log.warn({ err: err.message, items: batch.length }, 'redis push pipeline failed; will retry');
      this.#requeue(batch);
    });
  }

  /** Puts a failed batch back in front (bounded), to go out when Redis is ready again. */
  #requeue(batch: PushItem[]): void {
    this.#pending = batch.concat(this.#pending);
    const over = this.#pending.length - this.#limit;
    if (over > 0) {
      this.#pending.splice(0, over);
      this.#dropped += over;
    }
    if (this.#redis.status === 'ready') this.#schedule();
  }
}
