import type { MessagePort } from 'node:worker_threads';
import { latencyHistogram, summarize } from '../threads/latency.ts';
import {
  Cmd, ProtocolError, fromV0Body, hasTimestampGap, outFrame, parseFrame, readRouteHeader, routeTimestampNs, type Frame, type OutFrame,
} from '../protocol/index.ts';
import { Kind, type SubscriberTable } from '../subscribers/index.ts';
import { PortBatcher } from '../threads/batcher.ts';
import { Outlet } from '../threads/turn.ts';
import { HandoffKind, writeHandoff } from '../threads/handoff.ts';
import { PackedReader } from '../threads/packed.ts';
import { nowNs, readChannelItems, type ChannelVisitor } from '../threads/channel-wire.ts';

/** At stop, how long a shard whose drain answered may take to send its DRAINED (it may have died since). */
const DRAIN_WAIT_MS = 2000;

/**
 * The Channel thread's side facing the shards, whatever carries messages between servers
 * (routers or NATS): it reads what shards send (their items go to `visitor`), and hands
 * what other servers publish to the shards the subscriber table names. A publish arrives
 * as the router frame it was sent as (PUBLISH, PUBLISH_ROOM, PUBLISH_GROUP): only its route
 * header is read, the embedded client frame is handed on as bytes.
 */
export class ShardSide {
  readonly #table: SubscriberTable;
  readonly #shards: PortBatcher;
  readonly #shardCount: number;
  readonly #shardBuf: number[] = [];
  readonly #visitor: ChannelVisitor;
  readonly latency = latencyHistogram();
  /** Shards that have sent their last items (DRAINED), and who waits for one. */
  readonly #drained = new Set<number>();
  #onDrained: (() => void) | undefined;
  dispatched = 0;
  invalid = 0;

  constructor(table: SubscriberTable, shards: MessagePort[], visitor: ChannelVisitor) {
    this.#table = table;
    this.#visitor = visitor;
    // The last port is the main thread's (released shards' transitions): it takes no hand-offs.
    this.#shardCount = shards.length - 1;
    this.#shards = new PortBatcher(Outlet.PEERS, shards.slice(0, this.#shardCount));
    for (const port of shards) this.#listen(port);
  }

  /** A restarted shard's new port replaces the old one. */
  setShard(index: number, port: MessagePort): void {
    this.#shards.setPort(index, port);
    this.#listen(port);
  }

  #listen(port: MessagePort): void {
    port.on('message', (ab: ArrayBuffer) => readChannelItems(new PackedReader(ab), this.#visitor));
  }

  drained(shard: number): void {
    this.#drained.add(shard);
    this.#onDrained?.();
  }

  /**
   * Resolves once each of `drained` (the shards whose drain answered) has sent its DRAINED:
   * shards post their last reports (logouts of the connections they just closed) on their
   * own ports, which race the main thread's. A shard that dies on the way is not waited for
   * beyond DRAIN_WAIT_MS.
   */
  async lastItems(drained: readonly number[]): Promise<void> {
    const all = () => drained.every((s) => this.#drained.has(s));
    if (all()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DRAIN_WAIT_MS);
      this.#onDrained = () => {
        if (!all()) return;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  latencySummary(): { count: number; p50: number; p99: number; max: number } {
    return summarize(this.latency);
  }

  /** A PUBLISH, PUBLISH_ROOM or PUBLISH_GROUP from another server: to the shards that hold its receiver. */
  deliver(f: Frame): void {
    if (f.cmd !== Cmd.PUBLISH && f.cmd !== Cmd.PUBLISH_ROOM && f.cmd !== Cmd.PUBLISH_GROUP) return;
    const h = readRouteHeader(f.body);
    if (h instanceof ProtocolError) return void this.invalid++;
    const inner = parseFrame(f.body.subarray(h.frameStart, h.frameEnd));
    if (inner instanceof ProtocolError) return void this.invalid++;
    const lat = (nowNs() - routeTimestampNs(f.body)) / 1000;
    if (lat >= 1 && lat < 60_000_000) this.latency.recordValue(lat);
    // A version-0 publisher: give the body the v1 layout the shards share (timestamp 0).
    const v0 = inner.version === 0 && hasTimestampGap(inner.cmd) && inner.body.length >= 20;
    // A stored message: the receiving side writes METADATA(msgid, 0) before it and a notify after.
    const meta = h.msgid > 0 ? { key: h.msgid, prev: 0, notify: true, gid: f.cmd === Cmd.PUBLISH_GROUP ? h.receiver : 0 } : undefined;
    const out = outFrame(inner.cmd, inner.flag, v0 ? fromV0Body(inner.body) : inner.body, meta);
    if (f.cmd === Cmd.PUBLISH_GROUP) {
      for (let s = 0; s < this.#shardCount; s++) this.#handOff(s, HandoffKind.GROUP, h.appid, h.receiver, out);
      return;
    }
    const kind = f.cmd === Cmd.PUBLISH ? Kind.USER : Kind.ROOM;
    const n = this.#table.shards(kind, h.appid, h.receiver, this.#shardBuf);
    for (let i = 0; i < n; i++) this.#handOff(this.#shardBuf[i]!, kind, h.appid, h.receiver, out);
  }

  #handOff(shard: number, kind: number, appid: number, id: number, f: OutFrame): void {
    if (!this.#shards.has(shard)) return;
    writeHandoff(this.#shards.to(shard), kind, appid, id, f);
    this.dispatched++;
  }
}
