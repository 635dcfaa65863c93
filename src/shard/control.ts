import type { MessagePort } from 'node:worker_threads';
import type net from 'node:net';
import type { ServerConfig } from '../config/server.ts';
import type { Group } from '../groups/source.ts';
import type { TransportKind } from '../protocol/index.ts';
import type { ShardReport } from './stats.ts';
import type { LinkEnd } from '../threads/backlog.ts';

/** A message posted through the HTTP API, routed by a shard exactly as a client's would be. */
export type PostRequest =
  | { type: 'peer'; appid: number; sender: number; receiver: number; content: Uint8Array }
  | { type: 'realtime'; appid: number; sender: number; receiver: number; content: Uint8Array }
  | { type: 'room'; appid: number; sender: number; room: number; content: Uint8Array }
  | { type: 'notification'; appid: number; uid: number; content: Uint8Array }
  | { type: 'system'; appid: number; receivers: number[]; content: Uint8Array }
  | { type: 'customer'; appid: number; senderAppid: number; sender: number; receiverAppid: number; receiver: number; content: Uint8Array }
  | { type: 'group'; appid: number; sender: number; gid: number; content: Uint8Array }
  | { type: 'group_notification'; appid: number; gid: number; members: number[] | undefined; content: Uint8Array };

/** The control plane a shard exposes to the main thread (comlink over a dedicated port). */
export interface ShardControl {
  report(): ShardReport;
  invalidateGroup(appid: number, gid: number): void;
  /** POST /post_*: routed as a client's message would be; resolves 0 or a GroupSend / AckStatus code. */
  post(p: PostRequest): Promise<number>;
  /** A restarted shard's new link (see ShardPool's supervision). */
  setPeer(index: number, link: LinkEnd): void;
  /** A restarted Channel thread's new port. */
  setChannel(port: MessagePort): void;
  /** A restarted store thread's new port. */
  setStore(port: MessagePort): void;
  /** Test hook (IM_TEST_HOOKS=1): the worker exits at once, as if it had crashed. */
  crash(): void;
  /** Test hook: the shard's thread blocks for `ms`, as a shard stuck in a loop would (it answers nothing meanwhile). */
  hang(ms: number): void;
  /** Test hook: a full garbage collection (when node runs with --expose-gc), for memory benchmarks. */
  gc(): void;
  /** Stops taking sockets and closes every connection gracefully; resolves when all are gone. */
  drain(timeoutMs: number): Promise<number>;
  ping(): boolean;
}

/** The start-up message of a shard worker (workerData). */
export interface ShardStart {
  index: number;
  config: ServerConfig;
  table: SharedArrayBuffer;
  /** This shard's ledger (its own counts per key, a growable SharedArrayBuffer). */
  ledger: SharedArrayBuffer;
  load: SharedArrayBuffer;
  /** Link to each other shard, by shard index (undefined for itself). */
  peers: (LinkEnd | undefined)[];
  control: MessagePort;
  /** Port to the Channel thread, when routers are configured. */
  channel?: MessagePort;
  /** Services the main thread offers shards (comlink): MainServices. */
  services: MessagePort;
  /** Port to the store thread (absent with IM_STORE=off). */
  store?: MessagePort;
}

export interface MainServices {
  loadGroup(appid: number, gid: number): Promise<Group | null>;
}

/** What the main thread posts to a shard: a freshly accepted, unread socket. */
export interface SocketHandoff {
  type: 'socket';
  kind: TransportKind;
  socket: net.Socket;
}
