/** What the client SDK emits and returns, and its errors. */
import { Cmd, readI64, type Body, type Frame, type codecs } from '../protocol/index.ts';

/** The decoded body of message K. */
export type Msg<K extends keyof typeof codecs> = Body<K>;

/** Event name → listener arguments; each server message arrives decoded with its frame. */
export interface ClientEvents {
  auth_status: [Msg<'AUTH_STATUS'>, Frame];
  im: [Msg<'IM'>, Frame];
  group_im: [Msg<'GROUP_IM'>, Frame];
  ack: [Msg<'ACK'>, Frame];
  rt: [Msg<'RT'>, Frame];
  room_im: [Msg<'ROOM_IM'>, Frame];
  system: [Msg<'SYSTEM'>, Frame];
  notification: [Msg<'NOTIFICATION'>, Frame];
  group_notification: [Msg<'GROUP_NOTIFICATION'>, Frame];
  customer: [Msg<'CUSTOMER_V2'>, Frame];
  sync_begin: [Msg<'SYNC_BEGIN'>, Frame];
  sync_end: [Msg<'SYNC_END'>, Frame];
  sync_notify: [Msg<'SYNC_NOTIFY'>, Frame];
  sync_group_begin: [Msg<'SYNC_GROUP_BEGIN'>, Frame];
  sync_group_end: [Msg<'SYNC_GROUP_END'>, Frame];
  sync_group_notify: [Msg<'SYNC_GROUP_NOTIFY'>, Frame];
  metadata: [Msg<'METADATA'>, Frame];
  pong: [Frame];
  /** Every frame the server sends, before its own event. */
  frame: [Frame];
  close: [Error | undefined];
  error: [Error];
}

export const EVENT_OF: Partial<Record<number, keyof ClientEvents>> = {
  [Cmd.AUTH_STATUS]: 'auth_status', [Cmd.IM]: 'im', [Cmd.GROUP_IM]: 'group_im', [Cmd.ACK]: 'ack',
  [Cmd.RT]: 'rt', [Cmd.ROOM_IM]: 'room_im', [Cmd.SYSTEM]: 'system', [Cmd.NOTIFICATION]: 'notification',
  [Cmd.GROUP_NOTIFICATION]: 'group_notification', [Cmd.CUSTOMER_V2]: 'customer',
  [Cmd.SYNC_BEGIN]: 'sync_begin', [Cmd.SYNC_END]: 'sync_end', [Cmd.SYNC_NOTIFY]: 'sync_notify',
  [Cmd.SYNC_GROUP_BEGIN]: 'sync_group_begin', [Cmd.SYNC_GROUP_END]: 'sync_group_end',
  [Cmd.SYNC_GROUP_NOTIFY]: 'sync_group_notify', [Cmd.METADATA]: 'metadata',
};

/** Server messages a reference client acknowledges. */
export const ACKED = new Set<number>([
  Cmd.IM, Cmd.GROUP_IM, Cmd.SYSTEM, Cmd.NOTIFICATION, Cmd.GROUP_NOTIFICATION, Cmd.CUSTOMER_V2,
]);

/** A message a sync returned: its cmd, flag (SELF when this device sent it) and decoded body. */
export interface SyncedMessage {
  cmd: number;
  flag: number;
  body: unknown;
  frame: Frame;
}

export interface SyncResult {
  /** SYNC_END's key: the newest key returned (or the one asked from, when none). */
  key: number;
  messages: SyncedMessage[];
}

/** The `uid` claim of a JWT, read without verifying it (the server verifies); undefined for other tokens. */
export function jwtUid(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const uid = (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { uid?: unknown }).uid;
    return typeof uid === 'number' && Number.isSafeInteger(uid) ? uid : undefined;
  } catch {
    return undefined;
  }
}

/** The int64 key of SYNC_END (first 8 bytes) or SYNC_GROUP_END (bytes 8..16). */
export function readKey(f: Frame): number {
  return readI64(f.body, f.cmd === Cmd.SYNC_GROUP_END ? 8 : 0);
}

export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
  readonly code = 'ERR_CLIENT_CLOSED';
}

export class AckTimeoutError extends Error {
  override readonly name = 'AckTimeoutError';
  readonly code = 'ERR_ACK_TIMEOUT';
}

