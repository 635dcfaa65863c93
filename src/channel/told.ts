import { Kind } from '../subscribers/index.ts';

/** What another server has been told of one key: nothing, subscribed offline, subscribed online. */
export const Told = { NONE: 0, OFFLINE: 1, ONLINE: 2 } as const;

/**
 * The state a key's count in the subscriber table calls for: a room is held or not; a user
 * is held when any connection is counted (low 16 bits), online when an online one is (high
 * 16 bits).
 */
export function desiredState(kind: Kind, count: number): number {
  if (kind === Kind.ROOM) return count > 0 ? Told.OFFLINE : Told.NONE;
  if ((count & 0xffff) === 0) return Told.NONE;
  return count >>> 16 > 0 ? Told.ONLINE : Told.OFFLINE;
}
