import { Cmd } from '../protocol/index.ts';

/** How the receivers of a stored message learn of it. */
export const Tell = {
  /** The message itself, preceded by METADATA of the receiver's queue entry. */
  MESSAGE: 0,
  /** SYNC_NOTIFY (SYNC_GROUP_NOTIFY for a super group) with the entry's key: the client syncs it. */
  NOTIFY: 1,
} as const;
export type Tell = (typeof Tell)[keyof typeof Tell];

/**
 * What sets one stored kind apart from another; everything else (save, METADATA, delivery
 * here, on other shards and on other servers, offline push, ACK) is the same path for all
 * (MessagePath). With the store off every kind is relayed as the message itself.
 */
export interface KindRule {
  /** For logs. */
  readonly name: string;
  readonly cmd: number;
  readonly tell: Tell;
  /** A copy in the sender's own queue (flagged SELF for its other devices), unless that is the receiver's. */
  readonly senderCopy: boolean;
  /** Offline push for receivers online nowhere (never the sender). */
  readonly push: boolean;
  /** A super group's copy and the sender's ACK are flagged SUPER_GROUP. */
  readonly markSuper: boolean;
}

/**
 * Every kind the store keeps (docs/store.md, "What is stored, and where"). A client's
 * messages reach their receivers whole; what the HTTP API posts into users' queues only
 * tells them to sync, but for a group message, which reads the same from either.
 */
export const Kinds = {
  IM: { name: 'IM', cmd: Cmd.IM, tell: Tell.MESSAGE, senderCopy: true, push: true, markSuper: false },
  CUSTOMER: { name: 'CUSTOMER_V2', cmd: Cmd.CUSTOMER_V2, tell: Tell.MESSAGE, senderCopy: true, push: true, markSuper: false },
  GROUP_IM: { name: 'GROUP_IM', cmd: Cmd.GROUP_IM, tell: Tell.MESSAGE, senderCopy: false, push: true, markSuper: true },
  POSTED_IM: { name: 'posted IM', cmd: Cmd.IM, tell: Tell.NOTIFY, senderCopy: true, push: true, markSuper: false },
  POSTED_CUSTOMER: { name: 'posted CUSTOMER_V2', cmd: Cmd.CUSTOMER_V2, tell: Tell.NOTIFY, senderCopy: true, push: true, markSuper: false },
  SYSTEM: { name: 'SYSTEM', cmd: Cmd.SYSTEM, tell: Tell.NOTIFY, senderCopy: false, push: true, markSuper: false },
  GROUP_NOTIFICATION: { name: 'GROUP_NOTIFICATION', cmd: Cmd.GROUP_NOTIFICATION, tell: Tell.NOTIFY, senderCopy: false, push: false, markSuper: false },
} as const satisfies Record<string, KindRule>;
