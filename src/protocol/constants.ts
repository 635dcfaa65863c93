/** Frame header: int32 body length, int32 seq, uint8 cmd, uint8 version, uint8 flag, uint8 reserved. */
export const HEADER_SIZE = 12;

/** A body of 32 KiB or more is invalid: the largest legal body is one byte less. */
export const MAX_BODY = 32 * 1024 - 1;

/** The newest client protocol version; older clients send 0 or 1. */
export const PROTOCOL_VERSION = 2;

export const Cmd = {
  AUTH_STATUS: 3,
  IM: 4,
  ACK: 5,
  GROUP_NOTIFICATION: 7,
  GROUP_IM: 8,
  PING: 13,
  PONG: 14,
  AUTH_TOKEN: 15,
  RT: 17,
  ENTER_ROOM: 18,
  LEAVE_ROOM: 19,
  ROOM_IM: 20,
  SYSTEM: 21,
  UNREAD_COUNT: 22,
  SYNC: 26,
  SYNC_BEGIN: 27,
  SYNC_END: 28,
  SYNC_NOTIFY: 29,
  SYNC_GROUP: 30,
  SYNC_GROUP_BEGIN: 31,
  SYNC_GROUP_END: 32,
  SYNC_GROUP_NOTIFY: 33,
  SYNC_KEY: 34,
  GROUP_SYNC_KEY: 35,
  NOTIFICATION: 36,
  METADATA: 37,
  CUSTOMER_V2: 64,

  SUBSCRIBE: 130,
  UNSUBSCRIBE: 131,
  PUBLISH: 132,
  PUSH: 134,
  PUBLISH_GROUP: 135,
  SUBSCRIBE_ROOM: 136,
  UNSUBSCRIBE_ROOM: 137,
  PUBLISH_ROOM: 138,
  /** This project's own: an access server proves it knows the router's IMR_SECRET (first frame). */
  LINK_AUTH: 139,
} as const;
export type Cmd = (typeof Cmd)[keyof typeof Cmd];

export const Flag = {
  TEXT: 0x01,
  UNPERSISTENT: 0x02,
  GROUP: 0x04,
  SELF: 0x08,
  PUSH: 0x10,
  SUPER_GROUP: 0x20,
} as const;

export const Platform = { IOS: 1, ANDROID: 2, WEB: 3 } as const;

export const AuthStatus = { OK: 0, FAILED: 1 } as const;

export const AckStatus = {
  OK: 0,
  NOT_MY_FRIEND: 1,
  NOT_YOUR_FRIEND: 2,
  IN_YOUR_BLACKLIST: 3,
  NOT_GROUP_MEMBER: 64,
  GROUP_NONEXISTENT: 65,
} as const;

/** How a client reaches an access server. */
export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';
