import type { MessagePort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';
import type { ShardReport } from './stats.ts';

/** The control plane a shard exposes to the main thread (comlink over a dedicated port). */
export interface ShardControl {
  report(): ShardReport;
  invalidateGroup(appid: number, gid: number): void;
  /** POST /post_group_message: routes a group message from `sender`; resolves with an AckStatus-like code. */
  postGroupMessage(appid: number, sender: number, gid: number, content: Uint8Array): Promise<number>;
  /** A restarted shard's new port (see ShardPool's supervision). */
  setPeer(index: number, port: MessagePort): void;
  /** A restarted Channel thread's new port. */
  setChannel(port: MessagePort): void;
  /** Test hook (IM_TEST_HOOKS=1): the worker exits at once, as if it had crashed. */
  crash(): void;
  /** Test hook: a full garbage collection (when node runs with --expose-gc), for memory benchmarks. */
  gc(): void;
  /** The other POST /post_* endpoints: routed as a client's message would be. */
  post(p: import('./inject.ts').PostRequest): Promise<number>;
  /** Stops taking sockets and closes every connection gracefully; resolves when all are gone. */
  drain(timeoutMs: number): Promise<number>;
  ping(): boolean;
}

type Listener = ((ev: { data: unknown }) => void) | { handleEvent(ev: { data: unknown }): void };

/** comlink speaks DOM-style ports; Node's MessagePort has on/off and no event wrapper. */
export function endpoint(port: MessagePort): Endpoint {
  const wrapped = new WeakMap<object, (data: unknown) => void>();
  return ({
    postMessage: (message: unknown, transfer?: unknown[]) => port.postMessage(message, transfer as never),
    addEventListener: (_type: string, listener: Listener) => {
      const fn = (data: unknown) => {
        const ev = { data };
        if (typeof listener === 'function') listener(ev);
        else listener.handleEvent(ev);
      };
      wrapped.set(listener, fn);
      port.on('message', fn);
    },
    removeEventListener: (_type: string, listener: Listener) => {
      const fn = wrapped.get(listener);
      if (fn !== undefined) port.off('message', fn);
    },
    start: () => port.start(),
  }) as unknown as Endpoint;
}

/** The start-up message of a shard worker (workerData). */
export interface ShardStart {
  index: number;
  config: import('../config/server.ts').ServerConfig;
  table: SharedArrayBuffer;
  /** This shard's ledger (a SubscriberTable of its own counts). */
  ledger: SharedArrayBuffer;
  load: SharedArrayBuffer;
  /** Port to each other shard, by shard index (undefined for itself). */
  peers: (MessagePort | undefined)[];
  control: MessagePort;
  /** Port to the Channel thread, when routers are configured. */
  channel?: MessagePort;
  /** Services the main thread offers shards (comlink): MainServices. */
  services: MessagePort;
}

export interface MainServices {
  loadGroup(appid: number, gid: number): Promise<import('../groups/source.ts').Group | null>;
}

/** The start-up message of the Channel worker. */
export interface ChannelStart {
  config: import('../config/server.ts').ServerConfig;
  table: SharedArrayBuffer;
  /** Port to each shard, by shard index. */
  shards: MessagePort[];
  control: MessagePort;
}

export interface ChannelControl {
  stats(): import('../channel/channel.ts').ChannelStats;
  /** Writes what is pending to the routers and closes the links. */
  stop(): Promise<void>;
  ping(): boolean;
  /** A restarted shard's new port. */
  setShard(index: number, port: MessagePort): void;
  /** Test hook (IM_TEST_HOOKS=1): the thread exits at once, as if it had crashed. */
  crash(): void;
}

/** What the main thread posts to a shard: a freshly accepted, unread socket. */
export interface SocketHandoff {
  type: 'socket';
  kind: import('./connection.ts').TransportKind;
  socket: import('node:net').Socket;
}
