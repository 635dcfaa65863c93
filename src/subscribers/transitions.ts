/**
 * The Channel's rules (docs/protocol.md, "Access server and router") as pure functions of the packed
 * count before a change: which router frame, if any, the change calls for. The thread whose
 * atomic update returned that previous value is the one that sends it, so each transition
 * is sent exactly once however many threads race.
 */
export const Transition = {
  NONE: 0,
  /** SUBSCRIBE online=1 */
  SUBSCRIBE_ONLINE: 1,
  /** SUBSCRIBE online=0 */
  SUBSCRIBE_OFFLINE: 2,
  UNSUBSCRIBE: 3,
  SUBSCRIBE_ROOM: 4,
  UNSUBSCRIBE_ROOM: 5,
} as const;
export type Transition = (typeof Transition)[keyof typeof Transition];

export const totalOf = (packed: number) => packed & 0xffff;
export const onlineOf = (packed: number) => packed >>> 16;

/** A user connection was added; `prev` is the packed count before it. */
export function onUserAdded(prev: number, online: boolean): Transition {
  if (totalOf(prev) === 0) return online ? Transition.SUBSCRIBE_ONLINE : Transition.SUBSCRIBE_OFFLINE;
  if (online && onlineOf(prev) === 0) return Transition.SUBSCRIBE_ONLINE;
  return Transition.NONE;
}

/** A user connection was removed; `prev` is the packed count before it. */
export function onUserRemoved(prev: number, online: boolean): Transition {
  if (totalOf(prev) === 1) return Transition.UNSUBSCRIBE;
  if (online && onlineOf(prev) === 1) return Transition.SUBSCRIBE_OFFLINE;
  return Transition.NONE;
}

export function onRoomAdded(prev: number): Transition {
  return prev === 0 ? Transition.SUBSCRIBE_ROOM : Transition.NONE;
}

export function onRoomRemoved(prev: number): Transition {
  return prev === 1 ? Transition.UNSUBSCRIBE_ROOM : Transition.NONE;
}
