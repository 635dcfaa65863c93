import { Cmd } from './constants.ts';
import { compileLayout, type BodyCodec, type Layout, type Shape } from './layout.ts';

/**
 * The one description of every message of docs/protocol.md: cmd, who may send it, and its body
 * layout per protocol version. Encoders, decoders, the client whitelist and the router
 * whitelist are all derived from this table.
 */
export type Direction = 'client' | 'server' | 'both' | 'router';

const CONTENT = [['content', 'bytes']] as const;
const IM_V0 = [['sender', 'i64'], ['receiver', 'i64'], ['timestamp', 'none'], ['msgid', 'i32'], ['content', 'bytes']] as const;
const IM_V1 = [['sender', 'i64'], ['receiver', 'i64'], ['timestamp', 'i32'], ['msgid', 'i32'], ['content', 'bytes']] as const;
const ACK_V0 = [['seq', 'i32'], ['status', 'none']] as const;
const ACK_V2 = [['seq', 'i32'], ['status', 'i8']] as const;
const RT = [['sender', 'i64'], ['receiver', 'i64'], ['content', 'bytes']] as const;
const ROOM_ID = [['room_id', 'i64']] as const;
const ROOM_IM = [['sender', 'i64'], ['receiver', 'i64'], ['content', 'bytes']] as const;
const SYNC_KEY = [['sync_key', 'i64']] as const;
const GROUP_SYNC_KEY = [['group_id', 'i64'], ['sync_key', 'i64']] as const;
const EMPTY = [] as const;
const ROUTE_MESSAGE = [
  ['appid', 'i64'], ['receiver', 'i64'], ['msgid', 'i64'], ['device_id', 'i64'],
  ['timestamp', 'i64n'], ['message', 'frame16'],
] as const;

interface Spec<L extends readonly Layout[]> {
  readonly cmd: number;
  readonly name: string;
  readonly dir: Direction;
  /** Layouts by version: index = version, the last one serves every newer version. */
  readonly layouts: L;
}

function spec<const L extends readonly Layout[]>(cmd: number, name: string, dir: Direction, ...layouts: L): Spec<L> {
  return { cmd, name, dir, layouts };
}

export const MESSAGES = {
  AUTH_STATUS: spec(Cmd.AUTH_STATUS, 'AUTH_STATUS', 'server', [['status', 'i32']] as const),
  IM: spec(Cmd.IM, 'IM', 'both', IM_V0, IM_V1),
  ACK: spec(Cmd.ACK, 'ACK', 'both', ACK_V0, ACK_V0, ACK_V2),
  GROUP_NOTIFICATION: spec(Cmd.GROUP_NOTIFICATION, 'GROUP_NOTIFICATION', 'server', CONTENT),
  GROUP_IM: spec(Cmd.GROUP_IM, 'GROUP_IM', 'both', IM_V0, IM_V1),
  PING: spec(Cmd.PING, 'PING', 'client', EMPTY),
  PONG: spec(Cmd.PONG, 'PONG', 'both', EMPTY),
  AUTH_TOKEN: spec(Cmd.AUTH_TOKEN, 'AUTH_TOKEN', 'client',
    [['platform_id', 'i8'], ['token', 'str8'], ['device_id', 'str8']] as const),
  RT: spec(Cmd.RT, 'RT', 'both', RT),
  ENTER_ROOM: spec(Cmd.ENTER_ROOM, 'ENTER_ROOM', 'client', ROOM_ID),
  LEAVE_ROOM: spec(Cmd.LEAVE_ROOM, 'LEAVE_ROOM', 'client', ROOM_ID),
  ROOM_IM: spec(Cmd.ROOM_IM, 'ROOM_IM', 'both', ROOM_IM),
  SYSTEM: spec(Cmd.SYSTEM, 'SYSTEM', 'server', CONTENT),
  UNREAD_COUNT: spec(Cmd.UNREAD_COUNT, 'UNREAD_COUNT', 'client', [['count', 'i32']] as const),
  SYNC: spec(Cmd.SYNC, 'SYNC', 'client', SYNC_KEY),
  SYNC_BEGIN: spec(Cmd.SYNC_BEGIN, 'SYNC_BEGIN', 'server', SYNC_KEY),
  SYNC_END: spec(Cmd.SYNC_END, 'SYNC_END', 'server', SYNC_KEY),
  SYNC_NOTIFY: spec(Cmd.SYNC_NOTIFY, 'SYNC_NOTIFY', 'server', SYNC_KEY),
  SYNC_GROUP: spec(Cmd.SYNC_GROUP, 'SYNC_GROUP', 'client', GROUP_SYNC_KEY),
  SYNC_GROUP_BEGIN: spec(Cmd.SYNC_GROUP_BEGIN, 'SYNC_GROUP_BEGIN', 'server', GROUP_SYNC_KEY),
  SYNC_GROUP_END: spec(Cmd.SYNC_GROUP_END, 'SYNC_GROUP_END', 'server', GROUP_SYNC_KEY),
  SYNC_GROUP_NOTIFY: spec(Cmd.SYNC_GROUP_NOTIFY, 'SYNC_GROUP_NOTIFY', 'server', GROUP_SYNC_KEY),
  SYNC_KEY: spec(Cmd.SYNC_KEY, 'SYNC_KEY', 'client', SYNC_KEY),
  GROUP_SYNC_KEY: spec(Cmd.GROUP_SYNC_KEY, 'GROUP_SYNC_KEY', 'client', GROUP_SYNC_KEY),
  NOTIFICATION: spec(Cmd.NOTIFICATION, 'NOTIFICATION', 'server', CONTENT),
  METADATA: spec(Cmd.METADATA, 'METADATA', 'both',
    [['sync_key', 'i64'], ['prev_sync_key', 'i64'], ['reserved', 'zero16']] as const),
  CUSTOMER_V2: spec(Cmd.CUSTOMER_V2, 'CUSTOMER_V2', 'both', [
    ['sender_appid', 'i64'], ['sender', 'i64'], ['receiver_appid', 'i64'], ['receiver', 'i64'],
    ['timestamp', 'i32'], ['content', 'bytes'],
  ] as const),

  SUBSCRIBE: spec(Cmd.SUBSCRIBE, 'SUBSCRIBE', 'router', [['appid', 'i64'], ['uid', 'i64'], ['online', 'i8']] as const),
  UNSUBSCRIBE: spec(Cmd.UNSUBSCRIBE, 'UNSUBSCRIBE', 'router', [['appid', 'i64'], ['uid', 'i64']] as const),
  PUBLISH: spec(Cmd.PUBLISH, 'PUBLISH', 'router', ROUTE_MESSAGE),
  PUSH: spec(Cmd.PUSH, 'PUSH', 'router',
    [['appid', 'i64'], ['receivers', 'i64list16'], ['message', 'frame16']] as const),
  PUBLISH_GROUP: spec(Cmd.PUBLISH_GROUP, 'PUBLISH_GROUP', 'router', ROUTE_MESSAGE),
  SUBSCRIBE_ROOM: spec(Cmd.SUBSCRIBE_ROOM, 'SUBSCRIBE_ROOM', 'router', [['appid', 'i64'], ['room_id', 'i64']] as const),
  UNSUBSCRIBE_ROOM: spec(Cmd.UNSUBSCRIBE_ROOM, 'UNSUBSCRIBE_ROOM', 'router', [['appid', 'i64'], ['room_id', 'i64']] as const),
  PUBLISH_ROOM: spec(Cmd.PUBLISH_ROOM, 'PUBLISH_ROOM', 'router', ROUTE_MESSAGE),
  LINK_AUTH: spec(Cmd.LINK_AUTH, 'LINK_AUTH', 'router', [['secret', 'bytes']] as const),
} as const;

export type MessageName = keyof typeof MESSAGES;
type LayoutOf<K extends MessageName> = (typeof MESSAGES)[K]['layouts'][number];
/** The decoded body of message K (one shape for every version). */
export type Body<K extends MessageName> = Shape<LayoutOf<K>>;

export interface MessageCodec<T> {
  readonly cmd: number;
  readonly name: string;
  readonly dir: Direction;
  /** The body codec for a connection speaking `version`. */
  forVersion(version: number): BodyCodec<T>;
}

function build<K extends MessageName>(s: Spec<readonly Layout[]>): MessageCodec<Body<K>> {
  const byVersion = s.layouts.map(
    (l: Layout, v: number) => compileLayout(s.layouts.length > 1 ? `${s.name} v${v}` : s.name, s.cmd, l),
  ) as unknown as BodyCodec<Body<K>>[];
  const last = byVersion[byVersion.length - 1]!;
  return {
    cmd: s.cmd,
    name: s.name,
    dir: s.dir,
    forVersion: (version) => byVersion[version] ?? last,
  };
}

export const codecs = Object.fromEntries(
  Object.entries(MESSAGES).map(([k, s]) => [k, build(s as Spec<readonly Layout[]>)]),
) as { [K in MessageName]: MessageCodec<Body<K>> };

/** cmd → codec, for decoding a frame whose cmd is only known at run time. */
export const codecByCmd: ReadonlyArray<MessageCodec<unknown> | undefined> = (() => {
  const table: (MessageCodec<unknown> | undefined)[] = new Array(256).fill(undefined);
  for (const c of Object.values(codecs)) table[c.cmd] = c as MessageCodec<unknown>;
  return table;
})();

function acceptTable(dirs: readonly Direction[]): Uint8Array {
  const t = new Uint8Array(256);
  for (const c of Object.values(codecs)) if (dirs.includes(c.dir)) t[c.cmd] = 1;
  return t;
}

/** Cmds an access server accepts from a client. */
export const CLIENT_CMDS = acceptTable(['client', 'both']);
/** Cmds a client accepts from an access server. */
export const SERVER_CMDS = acceptTable(['server', 'both']);
/**
 * Cmds exchanged between access servers and routers, and PING/PONG: this project's servers
 * check a quiet link's router with them (GoBelieve's router ignores a PING).
 */
export const ROUTER_CMDS = (() => {
  const t = acceptTable(['router']);
  t[Cmd.PING] = 1;
  t[Cmd.PONG] = 1;
  return t;
})();
