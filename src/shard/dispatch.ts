import { Cmd, ProtocolError, ProtocolErrorCode, codecs, hasTimestampGap, outFrame, type Frame } from '../protocol/index.ts';
import type { Connection } from './connection.ts';
import type { ShardGroups } from './groups.ts';
import { login, type LoginContext } from './login.ts';
import type { Messaging } from './messaging.ts';
import { PONG, ack } from './replies.ts';
import type { Routing } from './routing.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';

const ROOM_IM = codecs.ROOM_IM.forVersion(2);
const RT = codecs.RT.forVersion(2);
const ROOM_ID = codecs.ENTER_ROOM.forVersion(2);
const SYNC_KEY = codecs.SYNC_KEY.forVersion(2);
const GROUP_SYNC_KEY = codecs.GROUP_SYNC_KEY.forVersion(2);
const UNREAD = codecs.UNREAD_COUNT.forVersion(2);
const unread = new RateLimitedLog(10_000);

/** What frame handlers may use: the routing pipeline and the shard's services, not the Shard. */
export interface DispatchContext extends LoginContext {
  readonly routing: Routing;
  readonly messaging: Messaging;
  readonly groups: ShardGroups;
  /** IM_MAX_BODY: the largest body a message may have in the current layout. */
  readonly maxBody: number;
}

/**
 * A client frame, by cmd (docs/protocol.md, "A client's connection"). Before a
 * successful auth only AUTH_TOKEN and PING are served; anything else is ignored.
 */
export function dispatch(x: DispatchContext, c: Connection, f: Frame): void {
  if (f.cmd === Cmd.PING) return c.send(PONG);
  if (f.cmd === Cmd.AUTH_TOKEN) {
    login(x, c, f).catch((err: unknown) => x.log.error({ err }, 'auth handler failed'));
    return;
  }
  if (!c.authed) return;
  // A version-0 IM gains its timestamp in the layout it is routed and stored in.
  if (f.version === 0 && hasTimestampGap(f.cmd) && f.body.length + 4 > x.maxBody) {
    return c.fail(new ProtocolError(ProtocolErrorCode.BODY_LENGTH, `version-0 body of ${f.body.length} bytes is over ${x.maxBody} with its timestamp`, f.cmd));
  }
  switch (f.cmd) {
    case Cmd.IM: return peerMessage(x, c, f);
    case Cmd.GROUP_IM: return x.groups.message(c, f);
    case Cmd.RT: return realtime(x, c, f);
    case Cmd.ROOM_IM: return roomMessage(x, c, f);
    case Cmd.CUSTOMER_V2: return x.messaging.customer(c, f);
    case Cmd.ENTER_ROOM:
    case Cmd.LEAVE_ROOM: {
      const m = ROOM_ID.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      if (f.cmd === Cmd.ENTER_ROOM) x.presence.enterRoom(c, m.room_id);
      else x.presence.leaveRoom(c, m.room_id);
      return;
    }
    case Cmd.SYNC: return x.messaging.sync(c, f);
    case Cmd.SYNC_GROUP: return x.messaging.syncGroup(c, f, (appid, gid) => x.groups.load(appid, gid));
    case Cmd.SYNC_KEY: {
      const m = SYNC_KEY.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      return x.messaging.acknowledge(c, 0, m.sync_key);
    }
    case Cmd.GROUP_SYNC_KEY: {
      const m = GROUP_SYNC_KEY.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      return x.messaging.acknowledge(c, m.group_id, m.sync_key);
    }
    case Cmd.UNREAD_COUNT: {
      const m = UNREAD.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      x.auth.setUnread(c.appid, c.uid, m.count).catch((err: unknown) => unread.warn(x.log, 'storing UNREAD_COUNT failed', { err: (err as Error).message }));
      return;
    }
    case Cmd.METADATA:
    case Cmd.ACK:
    case Cmd.PONG:
      return; // accepted; nothing to answer
  }
}

function peerMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = codecs.IM.forVersion(f.version).decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(x, c, f);
  x.stats.messagesIn++;
  x.messaging.peer(c, f, m.receiver);
}

function realtime(x: DispatchContext, c: Connection, f: Frame): void {
  const m = RT.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(x, c, f);
  x.stats.messagesIn++;
  x.routing.toUser(c.appid, m.receiver, outFrame(Cmd.RT, f.flag, Buffer.from(f.body)));
}

function roomMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = ROOM_IM.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid || m.receiver !== c.room) return spoofed(x, c, f);
  x.stats.messagesIn++;
  // Never stored, so no PUSH flag (GoBelieve clients read PUSH as "a preview of a stored message").
  x.routing.toRoom(c.appid, m.receiver, outFrame(Cmd.ROOM_IM, f.flag, Buffer.from(f.body)), c);
  c.send(ack(f.seq, c.version));
}

function spoofed(x: DispatchContext, c: Connection, f: Frame): void {
  x.stats.spoofed++;
  x.log.debug({ conn: c.id, uid: c.uid, cmd: f.cmd }, 'message dropped: sender is not the authenticated user (or not in that room)');
}
