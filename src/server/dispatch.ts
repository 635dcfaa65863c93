import { Cmd, Flag, ProtocolError, codecs, encodeBody, type Frame } from '../protocol/index.ts';
import type { Connection } from './connection.ts';
import { outFrame } from './out-frame.ts';
import type { Shard } from './shard.ts';

const ROOM_IM = codecs.ROOM_IM.forVersion(2);
const RT = codecs.RT.forVersion(2);
const ROOM_ID = codecs.ENTER_ROOM.forVersion(2);
const SYNC_KEY = codecs.SYNC.forVersion(2);
const GROUP_SYNC = codecs.SYNC_GROUP.forVersion(2);
const CUSTOMER = codecs.CUSTOMER_V2.forVersion(2);
const UNREAD = codecs.UNREAD_COUNT.forVersion(2);
const EMPTY = Buffer.alloc(0);

/**
 * A client frame, by cmd (PROTOCOL.md, "Behaviour of the reference server"). Before a
 * successful auth only AUTH_TOKEN and PING are served; anything else is ignored.
 */
export function dispatch(shard: Shard, c: Connection, f: Frame): void {
  if (f.cmd === Cmd.PING) return shard.reply(c, outFrame(Cmd.PONG, 0, EMPTY));
  if (f.cmd === Cmd.AUTH_TOKEN) {
    shard.authenticate(c, f).catch((err: unknown) => shard.log.error({ err }, 'auth handler failed'));
    return;
  }
  if (!c.authed) return;
  switch (f.cmd) {
    case Cmd.IM: return peerMessage(shard, c, f);
    case Cmd.GROUP_IM: return shard.groups.message(c, f);
    case Cmd.RT: return realtime(shard, c, f);
    case Cmd.ROOM_IM: return roomMessage(shard, c, f);
    case Cmd.CUSTOMER_V2: return customerMessage(shard, c, f);
    case Cmd.ENTER_ROOM:
    case Cmd.LEAVE_ROOM: {
      const m = ROOM_ID.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      if (f.cmd === Cmd.ENTER_ROOM) shard.enterRoom(c, m.room_id);
      else shard.leaveRoom(c, m.room_id);
      return;
    }
    // No message store: answer an empty sync so that reference clients carry on.
    case Cmd.SYNC: return emptySync(shard, c, f, SYNC_KEY.decode(f.body, 0, f.body.length), 8, Cmd.SYNC_BEGIN, Cmd.SYNC_END);
    case Cmd.SYNC_GROUP:
      return emptySync(shard, c, f, GROUP_SYNC.decode(f.body, 0, f.body.length), 16, Cmd.SYNC_GROUP_BEGIN, Cmd.SYNC_GROUP_END);
    case Cmd.UNREAD_COUNT: {
      const m = UNREAD.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      shard.auth.setUnread(c.appid, c.uid, m.count).catch((err: unknown) => shard.log.warn({ err }, 'storing unread count failed'));
      return;
    }
    case Cmd.SYNC_KEY:
    case Cmd.GROUP_SYNC_KEY:
    case Cmd.METADATA:
    case Cmd.ACK:
    case Cmd.PONG:
      return; // accepted; nothing to answer without a message store
  }
}

/** BEGIN then END, each echoing the request's key fields (the first `keyBytes` of its body). */
function emptySync(shard: Shard, c: Connection, f: Frame, m: unknown, keyBytes: number, begin: number, end: number): void {
  if (m instanceof ProtocolError) return c.fail(m);
  const body = f.body.subarray(0, keyBytes);
  shard.reply(c, outFrame(begin, 0, body));
  shard.reply(c, outFrame(end, 0, body));
}

function peerMessage(shard: Shard, c: Connection, f: Frame): void {
  const m = codecs.IM.forVersion(f.version).decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(shard, c, f);
  shard.stats.messagesIn++;
  // One body for every receiver, in the v1+ layout whatever the sender's version.
  const body = f.version === 0 ? encodeBody(codecs.IM, m, 1) : f.body;
  const toReceiver = outFrame(Cmd.IM, f.flag | Flag.PUSH, body);
  const toSelf = outFrame(Cmd.IM, f.flag | Flag.PUSH | Flag.SELF, body);
  shard.delivery.toUser(c.appid, m.receiver, toReceiver, null);
  shard.delivery.toUser(c.appid, c.uid, toSelf, c);
  if (shard.channel.linked) {
    shard.channel.publish(Cmd.PUBLISH, c.appid, m.receiver, 0, toReceiver);
    if (m.receiver !== c.uid) shard.channel.publish(Cmd.PUBLISH, c.appid, c.uid, 0, toSelf);
  }
  if (!shard.table.isUserOnline(c.appid, m.receiver)) shard.channel.push(c.appid, [m.receiver], toReceiver);
  shard.ack(c, f.seq);
}

function realtime(shard: Shard, c: Connection, f: Frame): void {
  const m = RT.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(shard, c, f);
  shard.stats.messagesIn++;
  const out = outFrame(Cmd.RT, f.flag, f.body);
  shard.delivery.toUser(c.appid, m.receiver, out, null);
  if (shard.channel.linked) shard.channel.publish(Cmd.PUBLISH, c.appid, m.receiver, 0, out);
}

function roomMessage(shard: Shard, c: Connection, f: Frame): void {
  const m = ROOM_IM.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid || m.receiver !== c.room) return spoofed(shard, c, f);
  shard.stats.messagesIn++;
  const out = outFrame(Cmd.ROOM_IM, f.flag | Flag.PUSH, f.body);
  shard.delivery.toRoom(c.appid, m.receiver, out, c);
  if (shard.channel.linked) shard.channel.publish(Cmd.PUBLISH_ROOM, c.appid, m.receiver, 0, out);
  shard.ack(c, f.seq);
}

function customerMessage(shard: Shard, c: Connection, f: Frame): void {
  const m = CUSTOMER.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid || m.sender_appid !== c.appid) return spoofed(shard, c, f);
  shard.stats.messagesIn++;
  const out = outFrame(Cmd.CUSTOMER_V2, f.flag | Flag.PUSH, f.body);
  const self = outFrame(Cmd.CUSTOMER_V2, f.flag | Flag.PUSH | Flag.SELF, f.body);
  shard.delivery.toUser(m.receiver_appid, m.receiver, out, null);
  shard.delivery.toUser(c.appid, c.uid, self, c);
  if (shard.channel.linked) {
    shard.channel.publish(Cmd.PUBLISH, m.receiver_appid, m.receiver, 0, out);
    shard.channel.publish(Cmd.PUBLISH, c.appid, c.uid, 0, self);
  }
  if (!shard.table.isUserOnline(m.receiver_appid, m.receiver)) shard.channel.push(m.receiver_appid, [m.receiver], out);
  shard.ack(c, f.seq);
}

function spoofed(shard: Shard, c: Connection, f: Frame): void {
  shard.stats.spoofed++;
  shard.log.debug({ conn: c.id, uid: c.uid, cmd: f.cmd }, 'message dropped: sender is not the authenticated user (or not in that room)');
}
