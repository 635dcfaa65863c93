import { AckStatus, Cmd, codecs, encodeBody, outFrame, type MessageCodec } from '../protocol/index.ts';
import type { PostRequest } from './control.ts';
import { GroupSend, mayPost, type ShardGroups } from './groups.ts';
import { Kinds, type KindRule } from './kinds.ts';
import type { MessagePath, Receivers } from './message-path.ts';
import type { Routing } from './routing.ts';
import type { ShardStats } from './stats.ts';

function body<T>(codec: MessageCodec<T>, m: T): Buffer {
  return encodeBody(codec, m, 2);
}

const now = () => Math.floor(Date.now() / 1000);

export interface InjectContext {
  readonly routing: Routing;
  readonly path: MessagePath;
  readonly groups: ShardGroups;
  readonly stats: ShardStats;
}

/**
 * A message posted through the HTTP API, built as a client would have sent it and handed to
 * the one path of stored messages (kinds.ts says how its receivers learn of it); the kinds
 * the store does not keep are routed as a client's would be. Resolves with 0, or a
 * GroupSend / AckStatus code. Rejects when the store fails.
 */
export async function inject(x: InjectContext, p: PostRequest): Promise<number> {
  const content = Buffer.from(p.content);
  const post = (kind: KindRule, appid: number, sender: number, b: Buffer, to: Receivers) =>
    x.path.send({ kind, appid, sender, deviceNo: 0, body: b, flag: 0, to, from: null, seq: 0 });
  // A group message counts once its sender may post.
  if (p.type !== 'group') x.stats.messagesIn++;
  switch (p.type) {
    case 'peer': {
      const b = body(codecs.IM, { sender: p.sender, receiver: p.receiver, timestamp: now(), msgid: 0, content });
      await post(Kinds.POSTED_IM, p.appid, p.sender, b, { user: p.receiver, appid: p.appid });
      return 0;
    }
    case 'customer': {
      const b = body(codecs.CUSTOMER_V2, {
        sender_appid: p.senderAppid, sender: p.sender, receiver_appid: p.receiverAppid, receiver: p.receiver, timestamp: now(), content,
      });
      await post(Kinds.POSTED_CUSTOMER, p.senderAppid, p.sender, b, { user: p.receiver, appid: p.receiverAppid });
      return 0;
    }
    case 'system':
      if (p.receivers.length > 0) await post(Kinds.SYSTEM, p.appid, 0, content, { users: p.receivers });
      return 0;
    case 'group_notification': {
      const g = await x.groups.load(p.appid, p.gid);
      if (g === null && p.members === undefined) return AckStatus.GROUP_NONEXISTENT;
      if (g !== null && g.super) {
        await post(Kinds.GROUP_NOTIFICATION, p.appid, 0, content, { group: g });
        return 0;
      }
      // Normal group: the given members and the current ones, each in their own queue.
      const members = new Set([...(p.members ?? []), ...(g?.members.keys() ?? [])]);
      if (members.size === 0) return AckStatus.GROUP_NONEXISTENT;
      await post(Kinds.GROUP_NOTIFICATION, p.appid, 0, content, { users: [...members] });
      return 0;
    }
    case 'group': {
      const g = await x.groups.load(p.appid, p.gid);
      const r = mayPost(g, p.sender);
      if (r !== GroupSend.OK) return r;
      x.stats.messagesIn++;
      const b = body(codecs.GROUP_IM, { sender: p.sender, receiver: p.gid, timestamp: now(), msgid: 0, content });
      await post(Kinds.GROUP_IM, p.appid, p.sender, b, { group: g! });
      return 0;
    }
    case 'realtime':
      x.routing.toUser(p.appid, p.receiver, outFrame(Cmd.RT, 0, body(codecs.RT, { sender: p.sender, receiver: p.receiver, content })));
      return 0;
    case 'room':
      x.routing.toRoom(p.appid, p.room, outFrame(Cmd.ROOM_IM, 0, body(codecs.ROOM_IM, { sender: p.sender, receiver: p.room, content })));
      return 0;
    case 'notification':
      x.routing.toUser(p.appid, p.uid, outFrame(Cmd.NOTIFICATION, 0, content));
      return 0;
  }
}
