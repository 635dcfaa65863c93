import type { MessagePort } from 'node:worker_threads';
import type { ServerConfig } from '../config/server.ts';
import type { StoreStats } from './protocol.ts';

/** The start-up message of the store worker. */
export interface StoreStart {
  config: ServerConfig;
  /** One port per client thread: each shard by index, then the main thread's. */
  ports: MessagePort[];
  control: MessagePort;
}

export interface StoreControl {
  stats(): StoreStats;
  /** Whether the engine answers now. */
  ping(): Promise<boolean>;
  /** A restarted shard's new port. */
  addPort(port: MessagePort): void;
  /** A copy of the store in a new file (StoreEngine.backup); resolves its pages. */
  backup(file: string): Promise<number>;
  /** Test hook (IM_TEST_HOOKS=1): the thread exits at once, as if it had crashed. */
  crash(): void;
  /** Finishes what was asked, then closes the engine. */
  stop(): Promise<void>;
}
