import type { MessagePort } from 'node:worker_threads';
import type { ServerConfig } from '../config/server.ts';
import type { ChannelStats } from './channel.ts';

/** The start-up message of the Channel worker. */
export interface ChannelStart {
  config: ServerConfig;
  table: SharedArrayBuffer;
  /** Port from each shard, by shard index; the main thread's own comes last. */
  shards: MessagePort[];
  control: MessagePort;
}

export interface ChannelControl {
  /**
   * Resolves once the first attempt to reach the other servers is made: null, or what keeps
   * this server from ever reaching them (NATS refused its credentials, TLS failed).
   */
  started(): Promise<string | null>;
  stats(): ChannelStats;
  /**
   * Writes what is pending to the routers and closes the links, once each of `drained` (the
   * shards whose drain answered) has sent its last items.
   */
  stop(drained: number[]): Promise<void>;
  ping(): boolean;
  /** A restarted shard's new port. */
  setShard(index: number, port: MessagePort): void;
  /** Test hook (IM_TEST_HOOKS=1): the thread exits at once, as if it had crashed. */
  crash(): void;
}
