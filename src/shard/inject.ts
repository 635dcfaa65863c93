import { AckStatus, Cmd, Flag, codecs, encodeBody, outFrame, type MessageCodec } from '../protocol/index.ts';
import type { PostRequest } from './control.ts';
import type { ShardGroups } from './groups.ts';
import type { Routing } from './routing.ts';
import type { ShardStats } from './stats.ts';

function body<T>(codec: MessageCodec<T>, m: T): Buffer {
  return encodeBody(codec, m, 2);
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * A message posted through the HTTP API, routed exactly as a client's would be. Resolves
 * with 0, or an AckStatus for a group that does not exist.
 */
export async function inject(routing: Routing, groups: ShardGroups, stats: ShardStats, p: PostRequest): Promise<number> {
  const content = Buffer.from(p.content);
  stats.messagesIn++;
  switch (p.type) {
    case 'peer': {
      const b = body(codecs.IM, { sender: p.sender, receiver: p.receiver, timestamp: now(), msgid: 0, content });
      routing.toUser(p.appid, p.receiver, outFrame(Cmd.IM, Flag.PUSH, b), { push: true });
      if (p.sender !== p.receiver) routing.toUser(p.appid, p.sender, outFrame(Cmd.IM, Flag.PUSH | Flag.SELF, b));
      return 0;
    }
    case 'realtime':
      routing.toUser(p.appid, p.receiver, outFrame(Cmd.RT, 0, body(codecs.RT, { sender: p.sender, receiver: p.receiver, content })));
      return 0;
    case 'room':
      routing.toRoom(p.appid, p.room, outFrame(Cmd.ROOM_IM, Flag.PUSH, body(codecs.ROOM_IM, { sender: p.sender, receiver: p.room, content })));
      return 0;
    case 'notification':
      routing.toUser(p.appid, p.uid, outFrame(Cmd.NOTIFICATION, Flag.PUSH, content));
      return 0;
    case 'system': {
      const f = outFrame(Cmd.SYSTEM, Flag.PUSH, content);
      for (const uid of p.receivers) routing.toUser(p.appid, uid, f, { push: true });
      return 0;
    }
    case 'customer': {
      const b = body(codecs.CUSTOMER_V2, {
        sender_appid: p.senderAppid, sender: p.sender, receiver_appid: p.receiverAppid, receiver: p.receiver, timestamp: now(), content,
      });
      routing.toUser(p.receiverAppid, p.receiver, outFrame(Cmd.CUSTOMER_V2, Flag.PUSH, b), { push: true });
      return 0;
    }
    case 'group_notification': {
      let members = p.members;
      if (members === undefined) {
        const g = await groups.cache.get(p.appid, p.gid);
        if (g === null) return AckStatus.GROUP_NONEXISTENT;
        members = [...g.members.keys()];
      }
      const f = outFrame(Cmd.GROUP_NOTIFICATION, Flag.PUSH, content);
      for (const uid of members) routing.toUser(p.appid, uid, f);
      return 0;
    }
    case 'group':
      return groups.post(p.appid, p.sender, p.gid, content);
  }
}
