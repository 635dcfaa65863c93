import { AckStatus, Cmd, Flag, ProtocolError, codecs, encodeBody, type Frame } from '../protocol/index.ts';
import type { Group } from '../groups/source.ts';
import type { GroupCache } from '../groups/cache.ts';
import type { Connection } from './connection.ts';
import { outFrame, type OutFrame } from './out-frame.ts';
import type { Shard } from './shard.ts';

export const GroupSend = { OK: 0, NOT_MEMBER: AckStatus.NOT_GROUP_MEMBER, NO_GROUP: AckStatus.GROUP_NONEXISTENT, MUTED: -1 } as const;

/**
 * Group routing on a shard. Locally a group message goes to this shard's member connections
 * and, as one GROUP hand-off, to every other shard, which do the same with theirs: the fan-
 * out walks the member list against each shard's Route and allocates nothing per member.
 * Other servers: a normal group is published to each member's router; a super group is one
 * PUBLISH_GROUP, and every server delivers to its own members.
 */
export class ShardGroups {
  readonly #shard: Shard;
  readonly cache: GroupCache;

  constructor(shard: Shard, cache: GroupCache) {
    this.#shard = shard;
    this.cache = cache;
  }

  /** GROUP_IM from a client. */
  message(c: Connection, f: Frame): void {
    const m = codecs.GROUP_IM.forVersion(f.version).decode(f.body, 0, f.body.length);
    if (m instanceof ProtocolError) return c.fail(m);
    if (m.sender !== c.uid) {
      this.#shard.stats.spoofed++;
      return;
    }
    const body = f.version === 0 ? encodeBody(codecs.GROUP_IM, m, 1) : f.body;
    this.#withGroup(c.appid, m.receiver, (g) => {
      if (c.dead) return;
      const r = this.send(g, c.appid, m.sender, body, f.flag, c);
      if (r === GroupSend.MUTED) return this.#shard.ack(c, f.seq, AckStatus.OK); // dropped, as the reference does
      this.#shard.ack(c, f.seq, r, g?.super ? Flag.SUPER_GROUP : 0);
    });
  }

  /** POST /post_group_message: a group message from `sender`, without a connection. */
  async post(appid: number, sender: number, gid: number, content: Buffer): Promise<number> {
    const g = await this.cache.get(appid, gid);
    const body = encodeBody(codecs.GROUP_IM, { sender, receiver: gid, timestamp: Math.floor(Date.now() / 1000), msgid: 0, content }, 1);
    return this.send(g, appid, sender, body, 0, null);
  }

  /** Routes a group message (client or HTTP API); `exclude` is the sending connection, if any. */
  send(g: Group | null, appid: number, sender: number, body: Buffer, flag: number, exclude: Connection | null): number {
    if (g === null) return GroupSend.NO_GROUP;
    const muted = g.members.get(sender);
    if (muted === undefined) return GroupSend.NOT_MEMBER;
    if (muted) return GroupSend.MUTED;
    const s = this.#shard;
    s.stats.messagesIn++;
    const out = outFrame(Cmd.GROUP_IM, flag | Flag.PUSH | (g.super ? Flag.SUPER_GROUP : 0), body);
    this.deliverLocal(g, out, exclude);
    s.delivery.toAllShards(appid, g.id, out);
    if (s.channel.linked) {
      if (g.super) s.channel.publish(Cmd.PUBLISH_GROUP, appid, g.id, 0, out);
      else for (const uid of g.members.keys()) s.channel.publish(Cmd.PUBLISH, appid, uid, 0, out);
    }
    const offline: number[] = [];
    for (const uid of g.members.keys()) if (uid !== sender && !s.table.isUserOnline(appid, uid)) offline.push(uid);
    if (offline.length > 0) s.channel.push(appid, offline, out);
    return GroupSend.OK;
  }

  /** A group message handed over by another shard or by the router: this shard's members only. */
  fromElsewhere(appid: number, gid: number, f: OutFrame): void {
    this.#withGroup(appid, gid, (g) => { if (g !== null) this.deliverLocal(g, f, null); });
  }

  deliverLocal(g: Group, f: OutFrame, exclude: Connection | null): void {
    for (const uid of g.members.keys()) this.#shard.delivery.localUser(g.appid, uid, f, exclude);
  }

  #withGroup(appid: number, gid: number, then: (g: Group | null) => void): void {
    const g = this.cache.get(appid, gid);
    if (g === null || !(g instanceof Promise)) return then(g);
    g.then(then, (err: unknown) => this.#shard.log.error({ err, appid, gid }, 'group load failed'));
  }
}
