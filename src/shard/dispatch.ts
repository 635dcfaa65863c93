import { Cmd, Flag, ProtocolError, codecs, fromV0Body, outFrame, type Frame } from '../protocol/index.ts';
import type { Connection } from './connection.ts';
import type { ShardGroups } from './groups.ts';
import { login, type LoginContext } from './login.ts';
import { PONG, ack } from './replies.ts';
import type { Routing } from './routing.ts';

const ROOM_IM = codecs.ROOM_IM.forVersion(2);
const RT = codecs.RT.forVersion(2);
const ROOM_ID = codecs.ENTER_ROOM.forVersion(2);
const SYNC_KEY = codecs.SYNC.forVersion(2);
const GROUP_SYNC = codecs.SYNC_GROUP.forVersion(2);
const CUSTOMER = codecs.CUSTOMER_V2.forVersion(2);
const UNREAD = codecs.UNREAD_COUNT.forVersion(2);

/** What frame handlers may use: the routing pipeline and the shard's services, not the Shard. */
export interface DispatchContext extends LoginContext {
  readonly routing: Routing;
  readonly groups: ShardGroups;
}

/**
 * A client frame, by cmd (PROTOCOL.md, "Behaviour of the reference server"). Before a
 * successful auth only AUTH_TOKEN and PING are served; anything else is ignored.
 */
export function dispatch(x: DispatchContext, c: Connection, f: Frame): void {
  if (f.cmd === Cmd.PING) return c.send(PONG);
  if (f.cmd === Cmd.AUTH_TOKEN) {
    login(x, c, f).catch((err: unknown) => x.log.error({ err }, 'auth handler failed'));
    return;
  }
  if (!c.authed) return;
  switch (f.cmd) {
    case Cmd.IM: return peerMessage(x, c, f);
    case Cmd.GROUP_IM: return x.groups.message(c, f);
    case Cmd.RT: return realtime(x, c, f);
    case Cmd.ROOM_IM: return roomMessage(x, c, f);
    case Cmd.CUSTOMER_V2: return customerMessage(x, c, f);
    case Cmd.ENTER_ROOM:
    case Cmd.LEAVE_ROOM: {
      const m = ROOM_ID.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      if (f.cmd === Cmd.ENTER_ROOM) x.presence.enterRoom(c, m.room_id);
      else x.presence.leaveRoom(c, m.room_id);
      return;
    }
    // No message store: answer an empty sync so that reference clients carry on.
    case Cmd.SYNC: return emptySync(c, f, SYNC_KEY.decode(f.body, 0, f.body.length), 8, Cmd.SYNC_BEGIN, Cmd.SYNC_END);
    case Cmd.SYNC_GROUP:
      return emptySync(c, f, GROUP_SYNC.decode(f.body, 0, f.body.length), 16, Cmd.SYNC_GROUP_BEGIN, Cmd.SYNC_GROUP_END);
    case Cmd.UNREAD_COUNT: {
      const m = UNREAD.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      x.auth.setUnread(c.appid, c.uid, m.count).catch((err: unknown) => x.log.warn({ err }, 'storing unread count failed'));
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
function emptySync(c: Connection, f: Frame, m: unknown, keyBytes: number, begin: number, end: number): void {
  if (m instanceof ProtocolError) return c.fail(m);
  const body = f.body.subarray(0, keyBytes);
  c.send(outFrame(begin, 0, body));
  c.send(outFrame(end, 0, body));
}

function peerMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = codecs.IM.forVersion(f.version).decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(x, c, f);
  x.stats.messagesIn++;
  // One body for every receiver, in the v1+ layout whatever the sender's version.
  const body = f.version === 0 ? fromV0Body(f.body) : f.body;
  const self = m.receiver === c.uid;
  x.routing.toUser(c.appid, m.receiver, outFrame(Cmd.IM, f.flag | Flag.PUSH, body), { push: true, exclude: self ? c : null });
  if (!self) x.routing.toUser(c.appid, c.uid, outFrame(Cmd.IM, f.flag | Flag.PUSH | Flag.SELF, body), { exclude: c });
  c.send(ack(f.seq, c.version));
}

function realtime(x: DispatchContext, c: Connection, f: Frame): void {
  const m = RT.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(x, c, f);
  x.stats.messagesIn++;
  x.routing.toUser(c.appid, m.receiver, outFrame(Cmd.RT, f.flag, f.body));
}

function roomMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = ROOM_IM.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid || m.receiver !== c.room) return spoofed(x, c, f);
  x.stats.messagesIn++;
  x.routing.toRoom(c.appid, m.receiver, outFrame(Cmd.ROOM_IM, f.flag | Flag.PUSH, f.body), c);
  c.send(ack(f.seq, c.version));
}

function customerMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = CUSTOMER.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid || m.sender_appid !== c.appid) return spoofed(x, c, f);
  x.stats.messagesIn++;
  x.routing.toUser(m.receiver_appid, m.receiver, outFrame(Cmd.CUSTOMER_V2, f.flag | Flag.PUSH, f.body), { push: true });
  x.routing.toUser(c.appid, c.uid, outFrame(Cmd.CUSTOMER_V2, f.flag | Flag.PUSH | Flag.SELF, f.body), { exclude: c });
  c.send(ack(f.seq, c.version));
}

function spoofed(x: DispatchContext, c: Connection, f: Frame): void {
  x.stats.spoofed++;
  x.log.debug({ conn: c.id, uid: c.uid, cmd: f.cmd }, 'message dropped: sender is not the authenticated user (or not in that room)');
}
