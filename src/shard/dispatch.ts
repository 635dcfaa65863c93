import {
  Cmd, ProtocolError, ProtocolErrorCode, codecs, fromV0Body, hasTimestampGap, outFrame, setTimestamp, type Frame,
} from '../protocol/index.ts';
import type { Connection } from './connection.ts';
import { GroupSend, mayPost, type ShardGroups } from './groups.ts';
import { Kinds } from './kinds.ts';
import { login, type LoginContext } from './login.ts';
import type { MessagePath } from './message-path.ts';
import { PONG, ack } from './replies.ts';
import type { Routing } from './routing.ts';
import type { Sync } from './sync.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';

const ROOM_IM = codecs.ROOM_IM.forVersion(2);
const RT = codecs.RT.forVersion(2);
const ROOM_ID = codecs.ENTER_ROOM.forVersion(2);
const SYNC_KEY = codecs.SYNC_KEY.forVersion(2);
const GROUP_SYNC_KEY = codecs.GROUP_SYNC_KEY.forVersion(2);
const UNREAD = codecs.UNREAD_COUNT.forVersion(2);
const CUSTOMER = codecs.CUSTOMER_V2.forVersion(2);
const unread = new RateLimitedLog(10_000);

/** What frame handlers may use: the routing pipeline and the shard's services, not the Shard. */
export interface DispatchContext extends LoginContext {
  readonly routing: Routing;
  /** Where every stored kind goes once decoded and authorized. */
  readonly path: MessagePath;
  readonly sync: Sync;
  readonly groups: ShardGroups;
  /** IM_MAX_BODY: the largest body a message may have in the current layout. */
  readonly maxBody: number;
  /** IM_KEFU_APPID: the customer-service app (0: none). */
  readonly kefuAppid: number;
  /** The store is on: a body outlives the read it came in (the save is awaited). */
  readonly stored: boolean;
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
    case Cmd.GROUP_IM: return groupMessage(x, c, f);
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
    case Cmd.SYNC: return x.sync.sync(c, f);
    case Cmd.SYNC_GROUP: return x.sync.syncGroup(c, f);
    case Cmd.SYNC_KEY: {
      const m = SYNC_KEY.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      return x.sync.acknowledge(c, 0, m.sync_key);
    }
    case Cmd.GROUP_SYNC_KEY: {
      const m = GROUP_SYNC_KEY.decode(f.body, 0, f.body.length);
      if (m instanceof ProtocolError) return c.fail(m);
      return x.sync.acknowledge(c, m.group_id, m.sync_key);
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

/**
 * A stored message's body in the version-2 layout, stamped with the server's time. Its own
 * copy when it outlives this turn; a pure relay delivers an IM in the turn it arrived.
 */
function stamped(f: Frame, cmd: number, copy: boolean): Buffer {
  const body = f.version === 0 ? fromV0Body(f.body) : copy ? Buffer.from(f.body) : f.body;
  setTimestamp(body, cmd, Math.floor(Date.now() / 1000));
  return body;
}

function peerMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = codecs.IM.forVersion(f.version).decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(x, c, f);
  x.stats.messagesIn++;
  const body = stamped(f, Cmd.IM, x.stored);
  x.path.send({ kind: Kinds.IM, appid: c.appid, sender: c.uid, deviceNo: c.deviceNo, body, flag: f.flag, to: { user: m.receiver, appid: c.appid }, from: c, seq: f.seq });
}

/** CUSTOMER_V2: one side must be the customer-service app. */
function customerMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = CUSTOMER.decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid || m.sender_appid !== c.appid) return spoofed(x, c, f);
  const kefu = x.kefuAppid;
  if (kefu === 0 || (m.sender_appid !== kefu && m.receiver_appid !== kefu)) {
    x.stats.refused++;
    return x.log.debug({ conn: c.id, uid: c.uid }, 'CUSTOMER_V2 dropped: neither side is the customer-service app (IM_KEFU_APPID)');
  }
  x.stats.messagesIn++;
  const body = stamped(f, Cmd.CUSTOMER_V2, true);
  x.path.send({ kind: Kinds.CUSTOMER, appid: c.appid, sender: c.uid, deviceNo: c.deviceNo, body, flag: f.flag, to: { user: m.receiver, appid: m.receiver_appid }, from: c, seq: f.seq });
}

/** GROUP_IM from a member: a muted member's message is dropped, as the reference does, but still acknowledged. */
function groupMessage(x: DispatchContext, c: Connection, f: Frame): void {
  const m = codecs.GROUP_IM.forVersion(f.version).decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  if (m.sender !== c.uid) return spoofed(x, c, f);
  // The group may have to load first: the body outlives this turn.
  const body = stamped(f, Cmd.GROUP_IM, true);
  x.groups.withGroup(c.appid, m.receiver, c.later(Cmd.GROUP_IM, (g) => {
    if (c.dead) return;
    const r = mayPost(g, m.sender);
    if (r !== GroupSend.OK) return c.send(ack(f.seq, c.version, r === GroupSend.MUTED ? 0 : r));
    x.stats.messagesIn++;
    x.path.send({ kind: Kinds.GROUP_IM, appid: c.appid, sender: c.uid, deviceNo: c.deviceNo, body, flag: f.flag, to: { group: g! }, from: c, seq: f.seq });
  }));
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
