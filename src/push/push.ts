import { RateLimitedLog } from '../log/rate-limited.ts';
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
 * layouts of docs/protocol.md. Only IM, GROUP_IM, SYSTEM and CUSTOMER_V2 are pushed; anything
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
  readonly #why: string;
  #queued = 0;
  /** `variable`: the setting that would have sent them to Redis (IMR_REDIS_URL, IM_REDIS_URL). */
  constructor(log: Logger, variable = 'IMR_REDIS_URL') {
    this.#log = log;
    this.#why = `offline push (no ${variable})`;
  }
  push(items: PushItem[]): void {
    this.#queued += items.length;
    for (const it of items) this.#log.debug({ queue: it.queue, item: it.json }, this.#why);
  }
  stats(): PushStats {
    return { queued: this.#queued, pushed: 0, dropped: 0, buffered: 0 };
  }
  async close(): Promise<void> {}
}

/** One pipeline at most in flight, of at most this many bytes of items (at least one item). */
const PIPELINE_BYTES = 4 * 1024 * 1024;

/** What an item holds in memory, near enough: its JSON text. */
const weight = (it: PushItem) => it.json.length;

/**
 * RPUSHes offline pushes to Redis, one pipeline at a time. Routing never waits for it:
 * while Redis is unreachable or slower than the pushes come, items wait in a buffer bounded
 * in items (`limit`) and bytes (`limitBytes`, what is in flight included), the oldest dropped
 * and counted beyond either, and go out as Redis takes them. An item is up to a whole
 * message's content (32 KB, more as JSON): a count alone would not bound the memory.
 */
export class RedisPushSink implements PushSink {
  readonly #redis: Redis;
  readonly #limit: number;
  readonly #limitBytes: number;
  readonly #log: Logger;
  #pending: PushItem[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #inFlight = 0;
  #inFlightBytes = 0;
  #queued = 0;
  #pushed = 0;
  #dropped = 0;
  #down = false;
  readonly #errors = new RateLimitedLog(10_000);

  constructor(url: string, limit: number, limitBytes: number, log: Logger) {
    this.#limit = limit;
    this.#limitBytes = limitBytes;
    this.#log = log;
    this.#redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(100 * 2 ** times, 5000),
    });
    this.#redis.on('ready', () => {
      if (this.#down) this.#log.info('redis push connection up again: sending the pushes held meanwhile');
      this.#down = false;
      this.#schedule();
    });
    // Reconnecting fails about once a second while Redis is away: one line per 10 s says so.
    this.#redis.on('error', (err: Error) => {
      this.#down = true;
      this.#errors.warn(this.#log, 'redis push connection error: pushes are held until it is back', { err: err.message });
    });
  }

  push(items: PushItem[]): void {
    this.#queued += items.length;
    for (const it of items) {
      this.#pending.push(it);
      this.#pendingBytes += weight(it);
    }
    this.#trim();
    this.#schedule();
  }

  /** The oldest waiting items go while more than the limits wait. */
  #trim(): void {
    let over = 0;
    let bytes = this.#pendingBytes + this.#inFlightBytes;
    const p = this.#pending;
    while (over < p.length && (p.length - over > this.#limit || bytes > this.#limitBytes)) bytes -= weight(p[over++]!);
    if (over === 0) return;
    p.splice(0, over);
    this.#pendingBytes = bytes - this.#inFlightBytes;
    this.#dropped += over;
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
    if (this.#redis.status !== 'ready' || this.#pending.length === 0 || this.#inFlight > 0) return;
    let n = 0;
    let bytes = 0;
    while (n < this.#pending.length && (n === 0 || bytes + weight(this.#pending[n]!) <= PIPELINE_BYTES)) bytes += weight(this.#pending[n++]!);
    const batch = this.#pending.splice(0, n);
    this.#pendingBytes -= bytes;
    const pipe = this.#redis.pipeline();
    for (const it of batch) pipe.rpush(it.queue, it.json);
    this.#inFlight += batch.length;
    this.#inFlightBytes += bytes;
    const done = () => {
      this.#inFlight -= batch.length;
      this.#inFlightBytes -= bytes;
    };
    pipe.exec().then((results) => {
      done();
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
      else this.#schedule();
    }, (err: Error) => {
      // The connection went away mid-pipeline: keep the batch for the next connection.
      done();
      this.#log.warn({ err: err.message, items: batch.length }, 'redis push pipeline failed; will retry');
      this.#requeue(batch);
    });
  }

  /** Puts a failed batch back in front (bounded), to go out when Redis is ready again. */
  #requeue(batch: PushItem[]): void {
    this.#pending = batch.concat(this.#pending);
    for (const it of batch) this.#pendingBytes += weight(it);
    this.#trim();
    if (this.#redis.status === 'ready') this.#schedule();
  }
}
