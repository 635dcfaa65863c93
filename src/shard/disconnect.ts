/**
 * Why a client connection closed: one value per close, counted by reason
 * (`im_disconnects_total{reason}`) and given in the connection's debug log line.
 */
export const Disconnect = {
  /** The client closed it, or its network did. */
  PEER: 'peer_closed',
  /** No successful AUTH_TOKEN within IM_AUTH_TIMEOUT_S. */
  AUTH_TIMEOUT: 'auth_timeout',
  /** Nothing received for IM_CLIENT_TIMEOUT_S. */
  IDLE: 'idle',
  /** It did not read: over IM_QUEUE_LIMIT_BYTES waiting, or too many sync replies waiting. */
  SLOW: 'slow_consumer',
  /** A frame that breaks the protocol. */
  BAD_FRAME: 'bad_frame',
  /** A frame longer than IM_MAX_BODY. */
  OVERSIZED: 'oversized',
  /** Handling its frame threw (a bug, logged at error): this connection pays, not the shard. */
  INTERNAL: 'internal_error',
  /** The server is stopping. */
  SHUTDOWN: 'server_shutdown',
  /** Its shard died (counted by the main thread). */
  SHARD_LOST: 'shard_lost',
} as const;
export type DisconnectReason = (typeof Disconnect)[keyof typeof Disconnect];
