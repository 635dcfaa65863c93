import { Disconnect, type DisconnectReason } from './disconnect.ts';
import { SAVING_MAX, SAVING_MAX_BYTES } from '../config/limits.ts';
import { FrameDecoder, ProtocolError, ProtocolErrorCode, frameCount, wireSize, writeOut, type Frame, type OutFrame, type TransportKind } from '../protocol/index.ts';
import type { RouteClient } from '../route/index.ts';
import type { ServerTransport, TransportEvents } from './transport.ts';
import type { WriteArena } from './write-arena.ts';
import { FrameQueue } from './frame-queue.ts';
import { after } from '../threads/deadline.ts';

/** What a connection reports to the shard that owns it. */
export interface ConnectionOwner {
  onFrame(c: Connection, f: Frame): void;
  onInvalid(c: Connection, err: ProtocolError): void;
  /** A handler of `cmd` failed (a bug): the connection is closed, the shard goes on. */
  onInternalError(c: Connection, err: unknown, cmd: number): void;
  /** Runs a handler's continuation for `c` (see later) with the hand-off back-pressure a frame gets. */
  continued(c: Connection, run: () => void): void;
  onClose(c: Connection, reason: DisconnectReason): void;
  /** The connection has frames to write: flush it at the end of this turn. */
  markDirty(c: Connection): void;
  /** The client's reads paused: it sends faster than the store saves (see Connection.saving). */
  onHeldBack(c: Connection): void;
  /** The current event-loop turn's number: a connection's read budget is per turn. */
  readonly turn: number;
  /** `c` read its budget this turn: resume it at the next. */
  onOverBudget(c: Connection): void;
  /** Frames dropped because the client did not read (queue limit). */
  onDropped(c: Connection, n: number): void;
  /** The client did not read and is over its byte limit: it is being disconnected. */
  onSlow(c: Connection, bytes: number): void;
  /** Frames written, by cmd. */
  readonly framesOutByCmd: Float64Array;
  /** Where writes to sockets that release them are built. */
  readonly arena: WriteArena;
}

export interface QueueLimits {
  /** Frames waiting while the socket pushes back; the oldest beyond are dropped (GoBelieve's rule). */
  frames: number;
  /** Bytes waiting (queue and socket buffer) before `dropOldest` applies, or a disconnect. */
  bytes: number;
  dropOldest: boolean;
  /** Bytes read from one client in one event-loop turn before its reads pause to the next (0: no bound). */
  readBudget: number;
}

const WS_UNSUPPORTED_DATA = 1003;
/** How long a closing connection's peer may take to acknowledge the close before it is cut. */
const CLOSE_GRACE_MS = 2000;

const PAUSED_STORE = 1;
const PAUSED_BUDGET = 2;
const PAUSED_PEERS = 4;

/** What a waiting frame costs: its wire bytes, roughly (version 0 is 4 bytes less). */
function cost(f: OutFrame): number {
  return 12 + f.body.length + (f.meta === undefined ? 0 : 64);
}

/**
 * One client connection on a shard: the decoder for what it sends, the state auth gives it,
 * and a bounded outbound queue written once per turn. While the socket pushes back, frames
 * wait in the queue, bounded in frames (the oldest dropped, GoBelieve's rule) and in bytes
 * (a slow consumer is disconnected, as NATS and Redis do, or its oldest frames dropped). A
 * frame that waits holds only its own bytes, not the read chunk it came from. Frames of a
 * reply that must arrive whole (a sync page) are never dropped and not counted.
 */
export class Connection implements RouteClient, TransportEvents {
  readonly id: number;
  uid = 0;
  appid = 0;
  deviceId = '';
  platform = 0;
  /** The client's protocol version: 0 until a successful auth sets it. */
  version = 0;
  /** The device as the store records it (SELF in a sync); 0 for WEB or no device id. */
  deviceNo = 0;
  /** Online for push (see Identity.notificationOn). */
  online = true;
  authed = false;
  /** Auth in progress: further AUTH_TOKENs are ignored. */
  authing = false;
  room: number | undefined;
  readonly createdAt: number;
  lastRecv: number;
  readonly transport: ServerTransport;
  #seq = 0;
  /** Frames waiting to be written. */
  readonly #queue = new FrameQueue();
  /** Frames in the queue the limit may drop (not part of a reply that must arrive whole), and their bytes. */
  #droppable = 0;
  #droppableBytes = 0;
  #blocked = false;
  #dead = false;
  #failed = false;
  /** Why this side is closing it; none: the peer closed it. */
  #reason: DisconnectReason | undefined;
  /** Cut off as a slow consumer: nothing more is queued while the close completes. */
  #cut = false;
  /** Waiting for what is queued to be written (whenWritten). */
  #written: (() => void)[] | undefined;
  /** Messages of this client waiting for the store, and their bytes (see saving()). */
  #saving = 0;
  #savingBytes = 0;
  /** Reads paused: waiting for the store (STORE), over this turn's read budget (BUDGET), for other shards to catch up (PEERS). */
  #paused = 0;
  #turn = -1;
  #turnBytes = 0;
  readonly #decoder: FrameDecoder;
  readonly #owner: ConnectionOwner;
  readonly #limits: QueueLimits;

  constructor(id: number, open: (events: TransportEvents) => ServerTransport,
    owner: ConnectionOwner, decoder: FrameDecoder, limits: QueueLimits, now: number) {
    this.id = id;
    this.#owner = owner;
    this.#decoder = decoder;
    this.#limits = limits;
    this.createdAt = now;
    this.lastRecv = now;
    this.transport = open(this);
  }

  get kind(): TransportKind {
    return this.transport.kind;
  }

  get remote(): string {
    return this.transport.remote;
  }

  get dead(): boolean {
    return this.#dead;
  }

  receive(chunk: Buffer): void {
    this.lastRecv = performance.now();
    // A client that sends as fast as its socket allows must not take the shard's turns from
    // its neighbours: past the budget its reads wait for the next turn (its TCP window then
    // slows it), and every other connection is served in between.
    const budget = this.#limits.readBudget;
    if (budget > 0) {
      const turn = this.#owner.turn;
      if (turn !== this.#turn) {
        this.#turn = turn;
        this.#turnBytes = 0;
      }
      this.#turnBytes += chunk.length;
      if (this.#turnBytes >= budget && !(this.#paused & PAUSED_BUDGET)) {
        this.#pause(PAUSED_BUDGET);
        this.#owner.onOverBudget(this);
      }
    }
    const err = this.#decoder.push(chunk, (f) => {
      if (!this.#dead && !this.#cut && !this.#failed) this.#owner.onFrame(this, f);
    });
    if (err !== undefined) this.fail(err);
  }

  /**
   * A handler's continuation after an await (store, group load): a bug in it costs this
   * connection, as one in the handler itself does, not the shard.
   */
  later<T>(cmd: number, fn: (v: T) => void): (v: T) => void {
    return (v) => {
      try {
        this.#owner.continued(this, () => fn(v));
      } catch (err) {
        this.#owner.onInternalError(this, err, cmd);
      }
    };
  }

  /**
   * Closes a client that asks for more than it reads; false if it was already cut off or
   * closed. Nothing more is queued for it, and the rest of its read is not handled.
   */
  cutOff(): boolean {
    if (this.#dead || this.#cut) return false;
    this.#cut = true;
    this.#forget();
    this.destroy(Disconnect.SLOW);
    return true;
  }

  /**
   * A message of this client went to the store. Past SAVING_MAX messages or
   * SAVING_MAX_BYTES waiting, its reads pause until half have been saved: a client that
   * sends faster than the store saves is held back, as the reference's one-at-a-time
   * handling does, instead of the server holding all it sends.
   */
  saving(bytes: number): void {
    this.#saving++;
    this.#savingBytes += bytes;
    if (!(this.#paused & PAUSED_STORE) && (this.#saving > SAVING_MAX || this.#savingBytes > SAVING_MAX_BYTES)) {
      this.#pause(PAUSED_STORE);
      this.#owner.onHeldBack(this);
    }
  }

  /** A message from saving() is saved, or its save failed. */
  saved(bytes: number): void {
    this.#saving--;
    this.#savingBytes -= bytes;
    if ((this.#paused & PAUSED_STORE) && this.#saving <= SAVING_MAX / 2 && this.#savingBytes <= SAVING_MAX_BYTES / 2) this.#resume(PAUSED_STORE);
  }

  /** Its frame was handed to a shard far behind (see Delivery.crowded): reads pause until peersCaughtUp(). False if they already had. */
  waitForPeers(): boolean {
    if (this.#paused & PAUSED_PEERS) return false;
    this.#pause(PAUSED_PEERS);
    return true;
  }

  peersCaughtUp(): void {
    this.#resume(PAUSED_PEERS);
  }

  /** A new turn: reads paused for the budget go on. */
  nextTurn(): void {
    this.#turnBytes = 0;
    this.#resume(PAUSED_BUDGET);
  }

  #pause(why: number): void {
    if (this.#paused === 0) this.transport.pause();
    this.#paused |= why;
  }

  #resume(why: number): void {
    if (!(this.#paused & why)) return;
    this.#paused &= ~why;
    if (this.#paused === 0 && !this.#dead) this.transport.resume();
  }

  /** The client broke the protocol: report once and close. */
  fail(err: ProtocolError): void {
    if (this.#dead || this.#failed) return;
    this.#failed = true;
    this.#owner.onInvalid(this, err);
    // A WebSocket client that sent text is told why in a close frame (1003: unsupported data).
    if (err.code === ProtocolErrorCode.TEXT_MESSAGE) return this.close(Disconnect.BAD_FRAME, WS_UNSUPPORTED_DATA, 'binary messages only');
    this.destroy(err.code === ProtocolErrorCode.BODY_LENGTH ? Disconnect.OVERSIZED : Disconnect.BAD_FRAME);
  }

  send(f: OutFrame): void {
    if (this.#dead || this.#cut) return;
    // The cap applies while the socket pushes back; a reading client gets every frame of a
    // burst (one turn's worth) in one write.
    if (f.keep !== true) {
      if (this.#blocked) {
        compact(f);
        if (this.#droppable >= this.#limits.frames) this.#dropOldest();
      }
      this.#droppable++;
      this.#droppableBytes += cost(f);
    }
    this.#queue.push(f);
    if (this.#blocked && this.#droppableBytes + this.transport.buffered > this.#limits.bytes) {
      if (!this.#limits.dropOldest) {
        this.#cut = true;
        this.#owner.onSlow(this, this.#droppableBytes + this.transport.buffered);
        this.#forget();
        return this.destroy(Disconnect.SLOW);
      }
      while (this.#droppable > 0 && this.#droppableBytes + this.transport.buffered > this.#limits.bytes) this.#dropOldest();
    }
    if (this.#queue.length === 1 && !this.#blocked) this.#owner.markDirty(this);
  }

  /** Writes what is queued as one batch, each frame with this connection's seq and version. */
  flush(): void {
    const q = this.#queue;
    const n = q.length;
    if (this.#dead || this.#blocked || n === 0) return;
    this.#droppable = 0;
    this.#droppableBytes = 0;
    const v = this.version;
    const counts = this.#owner.framesOutByCmd;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const f = q.at(i);
      counts[f.cmd]!++;
      total += wireSize(f, v);
    }
    const arena = this.transport.releasesWrites ? this.#owner.arena : undefined;
    const b = arena === undefined ? Buffer.allocUnsafe(total) : arena.take(total);
    let p = 0;
    for (let i = 0; i < n; i++) {
      const f = q.at(i);
      p = writeOut(b, p, f, v, this.#seq + 1);
      this.#seq += frameCount(f);
    }
    q.clear();
    if (!this.transport.write(b)) this.#blocked = true;
    arena?.written(b, this.transport.buffered > 0);
    if (!this.#blocked && this.#written !== undefined) this.#wrote();
  }

  /**
   * Runs `fn` once what is queued now has been handed to the socket and the socket takes
   * more: replies paced by their reader. Never, if the connection closes first.
   */
  whenWritten(fn: () => void): void {
    if (this.#dead) return;
    (this.#written ??= []).push(fn);
    if (this.#queue.length === 0 && !this.#blocked) setImmediate(() => this.#wrote());
  }

  #wrote(): void {
    const w = this.#written;
    if (w === undefined || this.#dead || this.#blocked || this.#queue.length > 0) return;
    this.#written = undefined;
    for (const fn of w) fn();
  }

  /** The oldest frame the limit may drop (its METADATA and notify go with it). */
  #dropOldest(): void {
    const q = this.#queue;
    let i = 0;
    while (q.at(i).keep === true) i++;
    const f = q.removeAt(i);
    this.#droppable--;
    this.#droppableBytes -= cost(f);
    this.#owner.onDropped(this, 1);
  }

  drained(): void {
    this.#blocked = false;
    if (this.#queue.length > 0) this.#owner.markDirty(this);
    else if (this.#written !== undefined) this.#wrote();
  }

  /** Graceful close: queued frames are written first (`wsCode`: a WebSocket's close code). */
  close(reason: DisconnectReason = Disconnect.SHUTDOWN, wsCode?: number, wsReason?: string): void {
    if (this.#dead) return;
    this.#reason ??= reason;
    this.#blocked = false;
    this.flush();
    this.transport.end(wsCode, wsReason);
    // A peer that never acknowledges the close must not hold the connection open.
    after(CLOSE_GRACE_MS, () => this.destroy());
  }

  /** Closes at once; `reason` says why (the first reason given is the one counted). */
  destroy(reason?: DisconnectReason): void {
    this.#reason ??= reason;
    this.transport.destroy();
  }

  closed(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#forget();
    this.#owner.onClose(this, this.#reason ?? Disconnect.PEER);
  }

  #forget(): void {
    this.#queue.release();
    this.#droppable = 0;
    this.#droppableBytes = 0;
  }
}

/**
 * A frame about to wait: if its body is a view into a much larger buffer (a socket read, a
 * hand-off batch), it gets a copy of its own, so that a queued 40-byte frame costs 40 bytes,
 * not the 64 KiB read it came from. Every receiver shares the copy.
 */
function compact(f: OutFrame): void {
  const whole = f.body.buffer.byteLength;
  if (whole > 4096 && whole > 2 * f.body.byteLength) f.body = Buffer.from(f.body);
}
