import { AckStatus, Cmd, Flag, codecs, encodeBody, type MessageCodec } from '../protocol/index.ts';
import { outFrame, type OutFrame } from './out-frame.ts';
import type { Shard } from './shard.ts';

/** A message posted through the HTTP API, routed by a shard exactly as a client's would be. */
export type PostRequest =
  | { type: 'peer'; appid: number; sender: number; receiver: number; content: Uint8Array }
  | { type: 'realtime'; appid: number; sender: number; receiver: number; content: Uint8Array }
  | { type: 'room'; appid: number; sender: number; room: number; content: Uint8Array }
  | { type: 'notification'; appid: number; uid: number; content: Uint8Array }
  | { type: 'system'; appid: number; receivers: number[]; content: Uint8Array }
  | { type: 'customer'; appid: number; senderAppid: number; sender: number; receiverAppid: number; receiver: number; content: Uint8Array }
  | { type: 'group_notification'; appid: number; gid: number; members: number[] | undefined; content: Uint8Array };

function body<T>(codec: MessageCodec<T>, m: T): Buffer {
  return encodeBody(codec, m, 2);
}

const now = () => Math.floor(Date.now() / 1000);

/** Local delivery, the other servers through the Channel, and offline push when asked. */
function toUser(s: Shard, appid: number, uid: number, f: OutFrame, push: boolean): void {
  s.delivery.toUser(appid, uid, f, null);
  if (s.channel.linked) s.channel.publish(Cmd.PUBLISH, appid, uid, 0, f);
  if (push && !s.table.isUserOnline(appid, uid)) s.channel.push(appid, [uid], f);
}

/** Routes a posted message; resolves with a GroupSend-style code for group notifications (0 ok). */
export async function inject(s: Shard, p: PostRequest): Promise<number> {
  const content = Buffer.from(p.content);
  s.stats.messagesIn++;
  switch (p.type) {
    case 'peer': {
      const b = body(codecs.IM, { sender: p.sender, receiver: p.receiver, timestamp: now(), msgid: 0, content });
      toUser(s, p.appid, p.receiver, outFrame(Cmd.IM, Flag.PUSH, b), true);
      if (p.sender !== p.receiver) toUser(s, p.appid, p.sender, outFrame(Cmd.IM, Flag.PUSH | Flag.SELF, b), false);
      return 0;
    }
    case 'realtime':
      toUser(s, p.appid, p.receiver, outFrame(Cmd.RT, 0, body(codecs.RT, { sender: p.sender, receiver: p.receiver, content })), false);
      return 0;
    case 'room': {
      const f = outFrame(Cmd.ROOM_IM, Flag.PUSH, body(codecs.ROOM_IM, { sender: p.sender, receiver: p.room, content }));
      s.delivery.toRoom(p.appid, p.room, f, null);
      if (s.channel.linked) s.channel.publish(Cmd.PUBLISH_ROOM, p.appid, p.room, 0, f);
      return 0;
    }
    case 'notification':
      toUser(s, p.appid, p.uid, outFrame(Cmd.NOTIFICATION, Flag.PUSH, content), false);
      return 0;
    case 'system': {
      const f = outFrame(Cmd.SYSTEM, Flag.PUSH, content);
      for (const uid of p.receivers) toUser(s, p.appid, uid, f, true);
      return 0;
    }
    case 'customer': {
      const b = body(codecs.CUSTOMER_V2, {
        sender_appid: p.senderAppid, sender: p.sender, receiver_appid: p.receiverAppid, receiver: p.receiver, timestamp: now(), content,
      });
      toUser(s, p.receiverAppid, p.receiver, outFrame(Cmd.CUSTOMER_V2, Flag.PUSH, b), true);
      return 0;
    }
    case 'group_notification': {
      let members = p.members;
      if (members === undefined) {
        const g = await s.groups.cache.get(p.appid, p.gid);
        if (g === null) return AckStatus.GROUP_NONEXISTENT;
        members = [...g.members.keys()];
      }
      const f = outFrame(Cmd.GROUP_NOTIFICATION, Flag.PUSH, content);
      for (const uid of members) toUser(s, p.appid, uid, f, false);
      return 0;
    }
  }
}
