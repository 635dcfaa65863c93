/** Per-shard counters; the main thread sums them for /summary and /metrics. */
export interface ShardStats {
  accepted: number;
  logins: number;
  authFailures: number;
  authTimeouts: number;
  authRefusedFull: number;
  roomRefusedFull: number;
  idleTimeouts: number;
  invalidFrames: number;
  tlsErrors: number;
  framesIn: number;
  framesOut: number;
  /** Client messages (IM, GROUP_IM, RT, ROOM_IM, CUSTOMER_V2) accepted from clients. */
  messagesIn: number;
  /** Frames dropped because a client did not read (queue limit). */
  dropped: number;
  /** Messages dropped because the sender field was not the authenticated uid (or the room not its room). */
  spoofed: number;
  /** Connections closed because handling their frame threw (a bug, logged at error). */
  internalErrors: number;
  /** Messages neither delivered nor acknowledged, and syncs unanswered, because the store failed. */
  storeFailures: number;
  /** Messages dropped by a rule (CUSTOMER_V2 with neither side the customer-service app). */
  refused: number;
  /** Clients disconnected for not reading (over IM_QUEUE_LIMIT_BYTES). */
  slowDisconnects: number;
  /** Logins refused because the token store (Redis) did not answer in time. */
  authUnavailable: number;
  /** Times a client's reads paused: more of its messages were waiting for the store than one client may have. */
  storePauses: number;
  /** Times a client's reads waited for the next turn: it sent more than IM_READ_BUDGET_BYTES in one. */
  readBudgetPauses: number;
  /** Times a client's reads waited for another shard to catch up with what it had handed it. */
  peerPauses: number;
}

export function emptyShardStats(): ShardStats {
  return {
    accepted: 0, logins: 0, authFailures: 0, authTimeouts: 0, authRefusedFull: 0, roomRefusedFull: 0,
    idleTimeouts: 0, invalidFrames: 0, tlsErrors: 0, framesIn: 0, framesOut: 0, messagesIn: 0, dropped: 0, spoofed: 0, internalErrors: 0, storeFailures: 0, refused: 0, slowDisconnects: 0, authUnavailable: 0, storePauses: 0, readBudgetPauses: 0, peerPauses: 0,
  };
}

export interface AppSummary {
  appid: number;
  clients: number;
  users: number;
  rooms: number;
  room_clients: number;
}

/** What a shard reports when asked (over the control port). */
export interface ShardReport {
  shard: number;
  connections: number;
  clients: number;
  users: number;
  rooms: number;
  room_clients: number;
  delivered: number;
  handoffs_in: number;
  handoffs_out: number;
  stats: ShardStats;
  /** Connections closed, by why (DisconnectReason). */
  disconnects: Record<string, number>;
  apps: AppSummary[];
  /** Live connections by transport. */
  transports: Record<string, number>;
  /** [cmd, frames] pairs, for cmds seen. */
  framesInByCmd: [number, number][];
  framesOutByCmd: [number, number][];
  groupCache: { size: number; loads: number };
  /** This thread's V8 heap in use, bytes. */
  heapUsed: number;
  /** Bytes outside the V8 heap held by this thread's ArrayBuffers and Buffers. */
  external: number;
  /** Write slabs made anew because a socket still held the previous one (WriteArena). */
  writeSlabs: number;
}

export function nonZero(a: Float64Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < a.length; i++) if (a[i]! > 0) out.push([i, a[i]!]);
  return out;
}
