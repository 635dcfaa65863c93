import { AckStatus, Cmd, Flag, ProtocolError, codecs, encodeBody, fromV0Body, outFrame, type Frame, type OutFrame } from '../protocol/index.ts';
import type { Group } from '../groups/source.ts';
import type { GroupCache } from '../groups/cache.ts';
import type { Logger } from '../log/logger.ts';
import type { Connection } from './connection.ts';
import { ack } from './replies.ts';
import type { Routing } from './routing.ts';
import type { ShardStats } from './stats.ts';

export const GroupSend = { OK: 0, NOT_MEMBER: AckStatus.NOT_GROUP_MEMBER, NO_GROUP: AckStatus.GROUP_NONEXISTENT, MUTED: -1 } as const;

/** Group messages on a shard: membership checks, then the routing pipeline's toGroup. */
export class ShardGroups {
  readonly cache: GroupCache;
  readonly #routing: Routing;
  readonly #stats: ShardStats;
  readonly #log: Logger;

  constructor(cache: GroupCache, routing: Routing, stats: ShardStats, log: Logger) {
    this.cache = cache;
    this.#routing = routing;
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
    const body = f.version === 0 ? fromV0Body(f.body) : f.body;
    this.#withGroup(c.appid, m.receiver, (g) => {
      if (c.dead) return;
      const r = this.send(g, m.sender, body, f.flag, c);
      // A muted member's message is dropped, as the reference does, but still acknowledged.
      if (r === GroupSend.MUTED) return c.send(ack(f.seq, c.version));
      c.send(ack(f.seq, c.version, r, g?.super ? Flag.SUPER_GROUP : 0));
    });
  }

  /** POST /post_group_message: a group message from `sender`, without a connection. */
  async post(appid: number, sender: number, gid: number, content: Buffer): Promise<number> {
    const g = await this.cache.get(appid, gid);
    const body = encodeBody(codecs.GROUP_IM, { sender, receiver: gid, timestamp: Math.floor(Date.now() / 1000), msgid: 0, content }, 1);
    return this.send(g, sender, body, 0, null);
  }

  /** Checks the sender's membership, then routes; `exclude` is the sending connection, if any. */
  send(g: Group | null, sender: number, body: Buffer, flag: number, exclude: Connection | null): number {
    if (g === null) return GroupSend.NO_GROUP;
    const muted = g.members.get(sender);
    if (muted === undefined) return GroupSend.NOT_MEMBER;
    if (muted) return GroupSend.MUTED;
    this.#stats.messagesIn++;
    const out = outFrame(Cmd.GROUP_IM, flag | Flag.PUSH | (g.super ? Flag.SUPER_GROUP : 0), body);
    this.#routing.toGroup(g, out, sender, { exclude, push: true });
    return GroupSend.OK;
  }

  /** A group message handed over by another shard or by the router: this shard's members only. */
  fromElsewhere(appid: number, gid: number, f: OutFrame): void {
    this.#withGroup(appid, gid, (g) => { if (g !== null) this.#routing.localGroup(g, f, null); });
  }

  #withGroup(appid: number, gid: number, then: (g: Group | null) => void): void {
    const g = this.cache.get(appid, gid);
    if (g === null || !(g instanceof Promise)) return then(g);
    g.then(then, (err: unknown) => this.#log.error({ err, appid, gid }, 'group load failed'));
  }
}
