import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type net from 'node:net';
import type { ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import type { SubscriberTable } from '../subscribers/index.ts';
import { endpoint, type ChannelControl, type ChannelStart, type MainServices, type ShardControl, type ShardStart, type SocketHandoff } from './control.ts';
import type { TransportKind } from './connection.ts';

const SHARD_ENTRY = new URL('../../workers/shard.ts', import.meta.url);
const CHANNEL_ENTRY = new URL('../../workers/channel.ts', import.meta.url);

export interface ShardHandle {
  index: number;
  worker: Worker;
  control: Comlink.Remote<ShardControl>;
}

/**
 * The shard workers of one access server, seen from the main thread: it starts them, wires a
 * port between every pair (cross-shard hand-offs), and moves each accepted socket to the
 * shard with the fewest live connections.
 */
export class ShardPool {
  readonly shards: ShardHandle[] = [];
  /** The Channel thread, when routers are configured. */
  channel: { worker: Worker; control: Comlink.Remote<ChannelControl> } | undefined;
  readonly #load: Int32Array;
  readonly #log: Logger;
  #stopping = false;

  constructor(config: ServerConfig, table: SubscriberTable, services: MainServices, log: Logger) {
    this.#log = log;
    const n = config.shards;
    const loadBuffer = new SharedArrayBuffer(4 * n);
    this.#load = new Int32Array(loadBuffer);
    const peers: (MessagePort | undefined)[][] = Array.from({ length: n }, () => new Array(n).fill(undefined));
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const { port1, port2 } = new MessageChannel();
        peers[i]![j] = port1;
        peers[j]![i] = port2;
      }
    }
    const toChannel: MessagePort[] = [];
    const fromShards: MessagePort[] = [];
    if (config.routeAddrs.length > 0) {
      for (let i = 0; i < n; i++) {
        const { port1, port2 } = new MessageChannel();
        toChannel.push(port1);
        fromShards.push(port2);
      }
      const { port1, port2 } = new MessageChannel();
      const start: ChannelStart = { config, table: table.buffer, shards: fromShards, control: port2 };
      const worker = new Worker(CHANNEL_ENTRY, { workerData: start, transferList: [...fromShards, port2] as never, name: 'channel' });
      worker.on('error', (err) => log.error({ err }, 'channel worker failed'));
      worker.on('exit', (code) => { if (!this.#stopping) log.error({ code }, 'channel worker exited'); });
      this.channel = { worker, control: Comlink.wrap<ChannelControl>(endpoint(port1)) };
    }
    for (let index = 0; index < n; index++) {
      const { port1, port2 } = new MessageChannel();
      const svc = new MessageChannel();
      Comlink.expose(services, endpoint(svc.port1));
      const start: ShardStart = {
        index, config, table: table.buffer, load: loadBuffer, peers: peers[index]!, control: port2, channel: toChannel[index], services: svc.port2,
      };
      const transfer = [...peers[index]!.filter((p) => p !== undefined), port2, svc.port2, ...(toChannel[index] ? [toChannel[index]] : [])];
      const worker = new Worker(SHARD_ENTRY, { workerData: start, transferList: transfer as never, name: `shard-${index}` });
      worker.on('error', (err) => log.error({ shard: index, err }, 'shard worker failed'));
      worker.on('exit', (code) => { if (!this.#stopping) log.error({ shard: index, code }, 'shard worker exited'); });
      this.shards.push({ index, worker, control: Comlink.wrap<ShardControl>(endpoint(port1)) });
    }
  }

  /** Live connections of each shard. */
  loads(): number[] {
    return this.shards.map((s) => Atomics.load(this.#load, s.index));
  }

  /** Resolves once every shard answers on its control port. */
  async ready(): Promise<void> {
    await Promise.all([...this.shards.map((s) => s.control.ping()), this.channel?.control.ping()]);
  }

  /** Moves a paused, unread socket to the least-loaded shard. */
  assign(socket: net.Socket, kind: TransportKind): void {
    let best = 0;
    let min = Infinity;
    for (let i = 0; i < this.shards.length; i++) {
      const l = Atomics.load(this.#load, i);
      if (l < min) { min = l; best = i; }
    }
    // Counted now, not when the shard adopts it: a burst of accepts must spread out.
    Atomics.add(this.#load, best, 1);
    try {
      const msg: SocketHandoff = { type: 'socket', kind, socket };
      this.shards[best]!.worker.postMessage(msg, [socket as never]);
    } catch (err) {
      Atomics.sub(this.#load, best, 1);
      this.#log.warn({ err: (err as Error).message, kind }, 'socket could not be moved to a shard');
      socket.destroy();
    }
  }

  /** Drops a group from every shard's cache; resolves once all have. */
  async invalidateGroup(appid: number, gid: number): Promise<void> {
    await Promise.all(this.shards.map((s) => s.control.invalidateGroup(appid, gid)));
  }

  async drain(timeoutMs: number): Promise<number[]> {
    return Promise.all(this.shards.map((s) => s.control.drain(timeoutMs)));
  }

  async terminate(): Promise<void> {
    this.#stopping = true;
    if (this.channel !== undefined) {
      await this.channel.control.stop();
      await this.channel.worker.terminate();
    }
    await Promise.all(this.shards.map((s) => s.worker.terminate()));
  }
}
