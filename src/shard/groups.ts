import { AckStatus, Cmd, Flag, ProtocolError, codecs, encodeBody, fromV0Body, setTimestamp, type Frame, type OutFrame } from '../protocol/index.ts';
import type { Group } from '../groups/source.ts';
import type { GroupCache } from '../groups/cache.ts';
import type { Logger } from '../log/logger.ts';
import type { Connection } from './connection.ts';
import { ackFrame, type Messaging } from './messaging.ts';
import type { Routing } from './routing.ts';
import type { ShardStats } from './stats.ts';

export const GroupSend = { OK: 0, NOT_MEMBER: AckStatus.NOT_GROUP_MEMBER, NO_GROUP: AckStatus.GROUP_NONEXISTENT, MUTED: -1 } as const;

/** Group messages on a shard: membership checks, then the store and the routing pipeline. */
export class ShardGroups {
  readonly cache: GroupCache;
  readonly #routing: Routing;
  readonly #messaging: Messaging;
  readonly #stats: ShardStats;
  readonly #log: Logger;

  constructor(cache: GroupCache, routing: Routing, messaging: Messaging, stats: ShardStats, log: Logger) {
    this.cache = cache;
    this.#routing = routing;
    this.#messaging = messaging;
    this.#stats = stats;
    this.#log = log;
  }

  /** GROUP_IM from a client. */
  message(c: Connection, f: Frame): void {
    const m = codecs.GROUP_IM.forVersion(f.version).decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    if (m.sender !== c.uid) {
      this.#stats.spoofed++;
      return;
    }
    // The body outlives the read chunk: its own copy, in the v2 layout, stamped now.
    const body = f.version === 0 ? fromV0Body(f.body) : Buffer.from(f.body);
    setTimestamp(body, Cmd.GROUP_IM, Math.floor(Date.now() / 1000));
    this.#withGroup(c.appid, m.receiver, c.later(Cmd.GROUP_IM, (g: Group | null) => {
      if (c.dead) return;
      const r = check(g, m.sender);
      // A muted member's message is dropped, as the reference does, but still acknowledged.
      if (r === GroupSend.MUTED) return c.send(ackFrame(f.seq, c.version, 0, 0, undefined));
      if (r !== GroupSend.OK) return c.send(ackFrame(f.seq, c.version, r, 0, undefined));
      this.#stats.messagesIn++;
      this.#messaging.group(g!, m.sender, c.deviceNo, body, f.flag, c).then(
        c.later(Cmd.GROUP_IM, (own) => c.send(ackFrame(f.seq, c.version, 0, g!.super ? Flag.SUPER_GROUP : 0, own))),
        (err: unknown) => {
          this.#stats.storeFailures++;
          this.#log.warn({ err: (err as Error).message, conn: c.id }, 'GROUP_IM: the store failed; not delivered, not acknowledged');
        });
    }));
  }

  /** POST /post_group_message: a group message from `sender`, without a connection. */
  async post(appid: number, sender: number, gid: number, content: Buffer): Promise<number> {
    const g = await this.cache.get(appid, gid);
    const r = check(g, sender);
    if (r !== GroupSend.OK) return r;
    const body = encodeBody(codecs.GROUP_IM, { sender, receiver: gid, timestamp: Math.floor(Date.now() / 1000), msgid: 0, content }, 2);
    this.#stats.messagesIn++;
    await this.#messaging.group(g!, sender, 0, body, 0, null);
    return GroupSend.OK;
  }

  /** The group, loaded into the cache if need be (null: none in that app). */
  load(appid: number, gid: number): Promise<Group | null> {
    return Promise.resolve(this.cache.get(appid, gid));
  }

  /** A group message handed over by another shard or by the router: this shard's members only. */
  fromElsewhere(appid: number, gid: number, f: OutFrame): void {
    this.#withGroup(appid, gid, (g) => { if (g !== null) this.#routing.localGroup(g, f, null); });
  }

  #withGroup(appid: number, gid: number, then: (g: Group | null) => void): void {
    const g = this.cache.get(appid, gid);
    if (g === null || !(g instanceof Promise)) return then(g);
    g.then(then, (err: unknown) => this.#log.error({ err, appid, gid }, 'group load failed')).catch((err: unknown) => {
      this.#stats.internalErrors++;
      this.#log.error({ err, appid, gid }, 'group message failed after its group loaded');
    });
  }
}

/** Whether `sender` may post to the group. */
function check(g: Group | null, sender: number): number {
  if (g === null) return GroupSend.NO_GROUP;
  const muted = g.members.get(sender);
  if (muted === undefined) return GroupSend.NOT_MEMBER;
  return muted ? GroupSend.MUTED : GroupSend.OK;
}
