import { threadMemory } from '../threads/memory.ts';
import type { Connection } from './connection.ts';
import type { DisconnectReason } from './disconnect.ts';
import type { Delivery } from './delivery.ts';
import type { ShardGroups } from './groups.ts';
import type { Presence } from './presence.ts';
import { nonZero, type AppSummary, type ShardReport, type ShardStats } from './stats.ts';
import type { WriteArena } from './write-arena.ts';

/** The parts of a shard its report reads. */
export interface ReportSource {
  readonly index: number;
  readonly presence: Presence;
  readonly delivery: Delivery;
  readonly groups: ShardGroups;
  readonly stats: ShardStats;
  readonly framesInByCmd: Float64Array;
  readonly framesOutByCmd: Float64Array;
  readonly arena: WriteArena;
}

/** What a shard tells the main thread of itself (/summary, /metrics, the dashboard). */
export function shardReport(s: ReportSource, conns: ReadonlySet<Connection>, disconnects: ReadonlyMap<DisconnectReason, number>): ShardReport {
  const apps: AppSummary[] = [];
  let clients = 0, users = 0, rooms = 0, roomClients = 0;
  for (const r of s.presence.routes.routes()) {
    if (r.clientCount === 0 && r.roomCount === 0) continue;
    apps.push({ appid: r.appid, clients: r.clientCount, users: r.userCount, rooms: r.roomCount, room_clients: r.roomClientCount });
    clients += r.clientCount;
    users += r.userCount;
    rooms += r.roomCount;
    roomClients += r.roomClientCount;
  }
  const transports: Record<string, number> = { tcp: 0, ws: 0, tls: 0, wss: 0 };
  for (const c of conns) transports[c.kind]!++;
  return {
    shard: s.index, connections: conns.size, clients, users, rooms, room_clients: roomClients,
    delivered: s.delivery.delivered, handoffs_in: s.delivery.handoffsIn, handoffs_out: s.delivery.handoffsOut,
    stats: { ...s.stats, framesOut: s.framesOutByCmd.reduce((a, b) => a + b, 0) }, apps, transports,
    disconnects: Object.fromEntries(disconnects),
    framesInByCmd: nonZero(s.framesInByCmd),
    framesOutByCmd: nonZero(s.framesOutByCmd),
    groupCache: { size: s.groups.cache.size, loads: s.groups.cache.loads },
    ...threadMemory(), writeSlabs: s.arena.replaced,
  };
}
