import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type net from 'node:net';
import { linked, type ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import { Ledger, type SubscriberTable, Transition } from '../subscribers/index.ts';
import { ChannelPort } from '../threads/channel-port.ts';
import type { ChannelControl, ChannelStart } from '../channel/control.ts';
import type { MainServices, ShardControl, ShardStart, SocketHandoff } from '../shard/control.ts';
import { endpoint } from '../threads/endpoint.ts';
import { deadline } from '../threads/deadline.ts';
import type { TransportKind } from '../protocol/index.ts';
import { releaseShard } from './release.ts';
import { StoreSupervisor } from './store-supervisor.ts';
import { portPairs } from '../threads/ports.ts';
import { linkPair, type LinkEnd } from '../threads/backlog.ts';

const SHARD_ENTRY = new URL('../../workers/shard.ts', import.meta.url);
const CHANNEL_ENTRY = new URL('../../workers/channel.ts', import.meta.url);

export interface ShardHandle {
  index: number;
  worker: Worker;
  control: Comlink.Remote<ShardControl>;
  ledger: Ledger;
  ready: boolean;
  /** Its worker exited (or was terminated for missing a deadline). */
  dead: boolean;
  restarts: number;
}

/**
 * The shard workers of one access server, seen from the main thread: it starts them, wires a
 * port between every pair (cross-shard hand-offs) and to the Channel thread, and moves each
 * accepted socket to the shard with the fewest live connections.
 *
 * Supervision: a shard that exits unexpectedly loses its connections (clients reconnect);
 * its share of the subscriber table is released from its ledger and the routers are told;
 * a fresh worker takes its place and new ports are wired to it. A shard that dies before it
 * ever answered is not restarted (it would only die again).
 */
export class ShardPool {
  readonly shards: ShardHandle[] = [];
  /** The Channel thread, when routers are configured. */
  channel: { worker: Worker; control: Comlink.Remote<ChannelControl>; ready: boolean } | undefined;
  /** The message store thread, unless IM_STORE=off. */
  readonly store: StoreSupervisor | undefined;
  readonly #config: ServerConfig;
  readonly #table: SubscriberTable;
  readonly #services: MainServices;
  readonly #load: Int32Array;
  readonly #loadBuffer: SharedArrayBuffer;
  readonly #log: Logger;
  /** Reports the transitions of released shards to the Channel. */
  #mainChannel: ChannelPort | undefined;
  #stopping = false;
  /** Shards being pinged after a missed deadline. */
  readonly #probing = new Set<ShardHandle>();
  /** The shards whose drain answered: each has sent the Channel its last items. */
  #drained: number[] = [];
  /** Replacements run one at a time: two shards dying together must not wire to each other's corpse. */
  #replacing: Promise<void> = Promise.resolve();
  /** Connections each shard index lost with a shard that died (im_disconnects_total{reason="shard_lost"}). */
  readonly lostWithShard = new Map<number, number>();

  constructor(config: ServerConfig, table: SubscriberTable, services: MainServices, log: Logger) {
    this.#config = config;
    this.#table = table;
    this.#services = services;
    this.#log = log;
    const n = config.shards;
    this.#loadBuffer = new SharedArrayBuffer(4 * n);
    this.#load = new Int32Array(this.#loadBuffer);
    const peers: (LinkEnd | undefined)[][] = Array.from({ length: n }, () => new Array(n).fill(undefined));
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) [peers[i]![j], peers[j]![i]] = linkPair(new MessageChannel());
    }
    const toChannel: (MessagePort | undefined)[] = linked(config) ? this.#spawnChannel() : new Array(n).fill(undefined);
    if (config.store !== 'off') {
      this.store = new StoreSupervisor({ config, log, resourceLimits: this.#limits(), rewire: (ports) => this.#rewireStore(ports) });
    }
    const toStore: (MessagePort | undefined)[] = this.store?.shardPorts ?? new Array(n).fill(undefined);
    for (let index = 0; index < n; index++) this.shards.push(this.#spawn(index, peers[index]!, toChannel[index], toStore[index], 0));
  }

  /** V8 limits of the worker threads (IM_WORKER_YOUNG_MB: 0 leaves V8's own sizing). */
  #limits(): { maxYoungGenerationSizeMb?: number } {
    const mb = this.#config.workerYoungMb;
    return mb > 0 ? { maxYoungGenerationSizeMb: mb } : {};
  }

  /** Resolves once every shard (and the Channel) answers on its control port. */
  async ready(): Promise<void> {
    await Promise.all([...this.shards.map((s) => s.control.ping()), this.channel?.control.ping(), this.store?.control.ping()]);
  }

  /**
   * A control call to a shard, bounded by `budgetMs` (IM_CONTROL_TIMEOUT_MS unless the call
   * waits on a dependency, as a post waits on the store). A call that misses its deadline
   * does not by itself say the shard is hung: the shard is then probed with a ping, which
   * waits on nothing, and only a shard that misses that too is replaced.
   */
  async ask<T>(h: ShardHandle, what: string, call: (c: Comlink.Remote<ShardControl>) => Promise<T>, budgetMs = this.#config.controlTimeoutMs): Promise<T> {
    try {
      return await deadline(call(h.control), budgetMs, `shard ${h.index} ${what}`);
    } catch (err) {
      if ((err as Error).name === 'DeadlineError') this.#probe(h, what);
      throw err;
    }
  }

  /** Pings a shard whose call missed its deadline (one probe at a time per shard); terminates it when the ping misses too. */
  #probe(h: ShardHandle, what: string): void {
    if (h.dead || this.#stopping || this.#probing.has(h)) return;
    this.#probing.add(h);
    deadline(h.control.ping(), this.#config.controlTimeoutMs, `shard ${h.index} ping`).then(
      () => this.#log.warn({ shard: h.index, what }, 'a call to a shard missed its deadline, but the shard answers a ping: left running'),
      () => {
        if (h.dead || this.#stopping) return;
        this.#log.error({ shard: h.index, what }, 'shard answers no ping: replacing it');
        void h.worker.terminate();
      },
    ).finally(() => this.#probing.delete(h));
  }

  /** Moves a paused, unread socket to the least-loaded shard. */
  assign(socket: net.Socket, kind: TransportKind): void {
    let best = -1;
    let min = Infinity;
    for (const s of this.shards) {
      if (!s.ready) continue;
      const l = Atomics.load(this.#load, s.index);
      if (l < min) { min = l; best = s.index; }
    }
    if (best < 0) {
      socket.destroy();
      return;
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

  /** Closes every connection; resolves with what each shard had left (a shard that does not answer: -1). */
  async drain(timeoutMs: number): Promise<number[]> {
    this.#stopping = true;
    const answered = new Set<number>();
    const left = await Promise.all(this.shards.map((h) => (h.dead ? Promise.resolve(0)
      : deadline(h.control.drain(timeoutMs), timeoutMs + 2000, `shard ${h.index} drain`).then((n) => {
        answered.add(h.index);
        return n;
      }, () => -1))));
    this.#drained = [...answered];
    return left;
  }

  async terminate(): Promise<void> {
    this.#stopping = true;
    this.#mainChannel?.flush();
    const limit = this.#config.controlTimeoutMs;
    if (this.channel !== undefined) {
      await deadline(this.channel.control.stop(this.#drained), limit, 'channel stop').catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'channel did not stop cleanly'));
      await this.channel.worker.terminate();
    }
    await Promise.all(this.shards.map((s) => s.worker.terminate()));
    await this.store?.stop(limit);
  }

  /** A replacement store thread: each live shard asks it from now on (a dead one's successor gets a port when it starts). */
  async #rewireStore(ports: MessagePort[]): Promise<void> {
    // Behind any shard replacement in progress, which wires its shard to the store it found.
    const wired = this.#replacing.then(() => Promise.all(this.shards.map((h, i) => (h.dead ? undefined
      : deadline(h.control.setStore(Comlink.transfer(ports[i]!, [ports[i] as never])), this.#config.controlTimeoutMs, `shard ${i} setStore`)
        .catch((err: unknown) => this.#log.error({ shard: i, err: (err as Error).message }, 'a shard did not take the new store port'))))));
    this.#replacing = wired.then(() => {}, () => {});
    await wired;
  }

  /**
   * Starts the Channel thread; returns the port each shard reports to it on. What the
   * Channel keeps (what each router was last told) it rebuilds from the subscriber table
   * whenever a link comes up, so a replacement simply re-subscribes from the table.
   */
  #spawnChannel(): MessagePort[] {
    // One port per shard, and the last one the main thread's own.
    const [toChannel, fromShards] = portPairs(this.#config.shards + 1);
    this.#mainChannel = new ChannelPort(toChannel.pop()!);
    const { port1, port2 } = new MessageChannel();
    const start: ChannelStart = { config: this.#config, table: this.#table.buffer, shards: fromShards, control: port2 };
    const worker = new Worker(CHANNEL_ENTRY, { workerData: start, transferList: [...fromShards, port2] as never, name: 'channel', resourceLimits: this.#limits() });
    const channel = { worker, control: Comlink.wrap<ChannelControl>(endpoint(port1)), ready: false };
    channel.control.ping().then(() => { channel.ready = true; }, () => {});
    worker.on('error', (err) => this.#log.error({ err }, 'channel worker failed'));
    worker.on('exit', (code) => {
      if (this.#stopping || this.channel !== channel) return;
      this.#log.error({ code, ready: channel.ready }, 'channel worker exited');
      if (!channel.ready) return void this.#log.error('channel died during start-up: not restarting it');
      const ports = this.#spawnChannel();
      Promise.all(this.shards.map((sh, i) => sh.control.setChannel(Comlink.transfer(ports[i]!, [ports[i] as never]))))
        .then(() => this.#log.warn('channel restarted'), (err: unknown) => this.#log.error({ err }, 'channel restart failed'));
    });
    this.channel = channel;
    return toChannel;
  }

  #spawn(index: number, peers: (LinkEnd | undefined)[], channel: MessagePort | undefined, store: MessagePort | undefined, restarts: number): ShardHandle {
    const { port1, port2 } = new MessageChannel();
    const svc = new MessageChannel();
    Comlink.expose(this.#services, endpoint(svc.port1));
    const ledger = Ledger.create(this.#config.subscriberCapacity);
    const start: ShardStart = {
      index, config: this.#config, table: this.#table.buffer, ledger: ledger.buffer, load: this.#loadBuffer,
      peers, control: port2, channel, services: svc.port2, store,
    };
    const transfer = [...peers.flatMap((p) => (p === undefined ? [] : [p.port])), port2, svc.port2, ...(channel ? [channel] : []), ...(store ? [store] : [])];
    const worker = new Worker(SHARD_ENTRY, { workerData: start, transferList: transfer as never, name: `shard-${index}`, resourceLimits: this.#limits() });
    const handle: ShardHandle = { index, worker, control: Comlink.wrap<ShardControl>(endpoint(port1)), ledger, ready: false, dead: false, restarts };
    handle.control.ping().then(() => { handle.ready = true; }, () => {});
    worker.on('error', (err) => this.#log.error({ shard: index, err }, 'shard worker failed'));
    worker.on('exit', (code) => {
      handle.dead = true;
      if (this.#stopping) return;
      this.#log.error({ shard: index, code, ready: handle.ready }, 'shard worker exited');
      if (this.shards[index] !== handle) return;
      this.#replacing = this.#replacing.then(() => this.#replace(handle))
        .catch((err: unknown) => this.#log.error({ err, shard: index }, 'replacing a shard failed'));
    });
    return handle;
  }

  async #replace(dead: ShardHandle): Promise<void> {
    const i = dead.index;
    const answered = dead.ready;
    dead.ready = false;
    // What it held when it died: the main thread's count of the sockets it moved there.
    this.lostWithShard.set(i, (this.lostWithShard.get(i) ?? 0) + Atomics.load(this.#load, i));
    Atomics.store(this.#load, i, 0);
    const released = releaseShard(this.#table, dead.ledger, i, (t, appid, id) => {
      if (t !== Transition.NONE) this.#mainChannel?.transition(t, appid, id);
    });
    this.#log.warn({ shard: i, ...released }, 'released the dead shard\'s users and rooms');
    if (!answered) {
      this.#log.error({ shard: i }, 'shard died during start-up: not restarting it');
      return;
    }
    // Ports to the Channel and the store go in its start-up message; ports to the other
    // shards are wired after it starts, each pair handed to both sides, so that a peer that
    // dies meanwhile costs only its own pair (its replacement, next in line, wires anew).
    const limit = this.#config.controlTimeoutMs;
    const wiring: Promise<unknown>[] = [];
    let channel: MessagePort | undefined;
    if (this.channel !== undefined) {
      const { port1, port2 } = new MessageChannel();
      channel = port1;
      wiring.push(deadline(this.channel.control.setShard(i, Comlink.transfer(port2, [port2 as never])), limit, 'channel setShard')
        .catch((err: unknown) => this.#log.error({ err: (err as Error).message }, 'wiring a replacement shard: the Channel did not answer')));
    }
    let store: MessagePort | undefined;
    if (this.store !== undefined) {
      const { port1, port2 } = new MessageChannel();
      store = port1;
      wiring.push(deadline(this.store.control.addPort(Comlink.transfer(port2, [port2 as never])), limit, 'store addPort')
        .catch((err: unknown) => this.#log.error({ err: (err as Error).message }, 'wiring a replacement shard: the store did not answer')));
    }
    await Promise.all(wiring);
    const fresh = this.#spawn(i, new Array(this.shards.length).fill(undefined), channel, store, dead.restarts + 1);
    this.shards[i] = fresh;
    await Promise.all(this.shards.filter((other) => other !== fresh && !other.dead).map((other) => {
      const [ours, theirs] = linkPair(new MessageChannel());
      return Promise.all([
        deadline(other.control.setPeer(i, Comlink.transfer(theirs, [theirs.port as never])), limit, `shard ${other.index} setPeer`),
        deadline(fresh.control.setPeer(other.index, Comlink.transfer(ours, [ours.port as never])), limit, `shard ${i} setPeer`),
      ]).catch((err: unknown) => this.#log.warn({ shard: other.index, err: (err as Error).message }, 'wiring a replacement shard: a peer did not answer'));
    }));
    this.#log.warn({ shard: i, restarts: fresh.restarts }, 'shard restarted');
  }
}
