import { Kind, SubscriberTableError, onRoomRemoved, onUserRemoved, type Ledger, type SubscriberTable, type Transition } from '../subscribers/index.ts';

/**
 * Takes a dead shard's share out of the shared table, as if each of its connections had
 * logged out, and reports each resulting transition (for the routers). Returns how many
 * users and rooms it released.
 */
export function releaseShard(table: SubscriberTable, ledger: Ledger, shard: number,
  report: (t: Transition, appid: number, id: number) => void): { users: number; rooms: number } {
  const keys: [Kind, number, number, number][] = [];
  ledger.scan((kind, appid, id, count) => keys.push([kind, appid, id, count]));
  for (const [kind, appid, id, count] of keys) {
    // A shard that died between its table update and its ledger update leaves them one
    // apart: release what can be released and never let that take the main thread down.
    try {
      if (kind === Kind.ROOM) {
        for (let n = count; n > 0; n--) report(onRoomRemoved(table.removeRoomMember(appid, id, shard, n === 1)), appid, id);
        continue;
      }
      let total = count & 0xffff;
      let online = count >>> 16;
      while (total > 0) {
        // Offline connections first: the online half then drops only with the last one,
        // sparing the routers an intermediate "subscribed offline".
        const isOnline = total <= online;
        report(onUserRemoved(table.removeUser(appid, id, isOnline, shard, total === 1), isOnline), appid, id);
        total--;
        if (isOnline) online--;
      }
    } catch (err) {
      if (!(err instanceof SubscriberTableError)) throw err;
    }
  }
  return { users: keys.filter((k) => k[0] === Kind.USER).length, rooms: keys.filter((k) => k[0] === Kind.ROOM).length };
}
