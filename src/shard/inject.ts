import { AckStatus, Cmd, Flag, codecs, encodeBody, outFrame, type MessageCodec } from '../protocol/index.ts';
import { QueueKind, type SaveItem } from '../store/types.ts';
import type { PostRequest } from './control.ts';
import type { ShardGroups } from './groups.ts';
import type { Messaging } from './messaging.ts';
import type { Routing } from './routing.ts';
import type { ShardStats } from './stats.ts';

function body<T>(codec: MessageCodec<T>, m: T): Buffer {
  return encodeBody(codec, m, 2);
}

const now = () => Math.floor(Date.now() / 1000);
const item = (appid: number, uid: number, cmd: number, b: Buffer): SaveItem => ({ appid, kind: QueueKind.USER, owner: uid, deviceId: 0, cmd, body: b });

export interface InjectContext {
  readonly routing: Routing;
  readonly messaging: Messaging;
  readonly groups: ShardGroups;
  readonly stats: ShardStats;
}

/**
 * A message posted through the HTTP API. Kinds the store keeps are saved, and their
 * receivers told SYNC_NOTIFY (docs/store.md, "What is stored, and where"); the others are routed as a client's would be.
 * Resolves with 0, or a GroupSend / AckStatus code. Rejects when the store fails.
 */
export async function inject(x: InjectContext, p: PostRequest): Promise<number> {
  const content = Buffer.from(p.content);
  x.stats.messagesIn++;
  switch (p.type) {
    case 'peer': {
      const b = body(codecs.IM, { sender: p.sender, receiver: p.receiver, timestamp: now(), msgid: 0, content });
      const items = [item(p.appid, p.receiver, Cmd.IM, b)];
      const relay = [outFrame(Cmd.IM, Flag.PUSH, b)];
      if (p.sender !== p.receiver) {
        items.push(item(p.appid, p.sender, Cmd.IM, b));
        relay.push(outFrame(Cmd.IM, Flag.PUSH | Flag.SELF, b));
      }
      await x.messaging.posted(items, { push: { frame: relay[0]!, to: [p.receiver] }, relay });
      return 0;
    }
    case 'customer': {
      const b = body(codecs.CUSTOMER_V2, {
        sender_appid: p.senderAppid, sender: p.sender, receiver_appid: p.receiverAppid, receiver: p.receiver, timestamp: now(), content,
      });
      const f = outFrame(Cmd.CUSTOMER_V2, Flag.PUSH, b);
      await x.messaging.posted([item(p.receiverAppid, p.receiver, Cmd.CUSTOMER_V2, b), item(p.senderAppid, p.sender, Cmd.CUSTOMER_V2, b)],
        { push: { frame: f, to: [p.receiver] }, relay: [f, outFrame(Cmd.CUSTOMER_V2, Flag.PUSH | Flag.SELF, b)] });
      return 0;
    }
    case 'system':
      if (p.receivers.length === 0) return 0;
      await x.messaging.posted(p.receivers.map((uid) => item(p.appid, uid, Cmd.SYSTEM, content)), { push: { frame: outFrame(Cmd.SYSTEM, Flag.PUSH, content), to: p.receivers } });
      return 0;
    case 'group_notification': {
      const g = await x.groups.load(p.appid, p.gid);
      if (g === null && p.members === undefined) return AckStatus.GROUP_NONEXISTENT;
      if (g !== null && g.super) {
        await x.messaging.postedToGroup(g, Cmd.GROUP_NOTIFICATION, content);
        return 0;
      }
      // Normal group: the given members and the current ones, each in their own queue.
      const members = new Set([...(p.members ?? []), ...(g?.members.keys() ?? [])]);
      if (members.size === 0) return AckStatus.GROUP_NONEXISTENT;
      await x.messaging.posted([...members].map((uid) => item(p.appid, uid, Cmd.GROUP_NOTIFICATION, content)));
      return 0;
    }
    case 'group':
      return x.groups.post(p.appid, p.sender, p.gid, content);
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
