import net from 'node:net';
import { ROUTER_PING_EVERY_MS as PING_EVERY_MS, ROUTER_SILENT_MS as SILENT_MS, STALL_MS } from '../config/limits.ts';
import { Cmd, FrameDecoder, ROUTER_CMDS, codecs, encodeFrame, type Frame, type ProtocolError } from '../protocol/index.ts';
import type { HostPort } from '../config/env.ts';
import { WriteProgress } from '../net/write-progress.ts';

export type LinkState = 'connecting' | 'up' | 'down' | 'stopped';
/**
 * Whether a quiet link's router is checked for being alive: it has answered a PING on some
 * connection (checked), it has never answered one (GoBelieve's router does not: not
 * checked), or no PING has been answered or timed out yet (unknown).
 */
export type Liveness = 'checked' | 'not checked' | 'unknown';

export interface RouterLinkHandlers {
  /** Connected: the Channel re-subscribes now, before anything held is released. */
  up(link: RouterLink): void;
  down(link: RouterLink, why: string): void;
  frame(link: RouterLink, f: Frame): void;
  invalid(link: RouterLink, err: ProtocolError): void;
  /** A publish was dropped: the router is reading, but more than `limitBytes` already waits. */
  backlog(link: RouterLink): void;
}

export interface RouterLinkLimits {
  /** Largest single write. */
  batchBytes: number;
  /** Publishes held while the router is away (frames; the oldest beyond are dropped). */
  holdFrames: number;
  /**
   * Bytes held while the router is away, and bytes of publishes that may wait unsent while
   * it is up: past this, new publishes are dropped, and a router that has taken nothing for
   * STALL_MS is taken for down.
   */
  limitBytes: number;
  /** A LINK_AUTH frame to send first on every connection (IM_ROUTE_SECRET), if any. */
  hello?: Buffer;
  /** The longest pause between two dials (IM_ROUTE_RECONNECT_MAX_MS). */
  reconnectMaxMs: number;
}

const PING_FRAME = encodeFrame(codecs.PING, {}, 0, 0);
const MIN_DELAY_MS = 100;
/** A link must stay up this long before its reconnect delay starts again from the minimum. */
const STABLE_MS = 5000;
/** TCP keepalive probes find a router host that vanished (no FIN, no RST). */
const KEEPALIVE_MS = 10_000;

/** The pause after `delay`: doubled, never past `max`. */
export const nextDelay = (delay: number, max: number): number => Math.min(delay * 2, max);
/** Between half and one and a half times `delay`: servers that lost one router do not dial it in step. */
export const jittered = (delay: number): number => delay * (0.5 + Math.random());

/**
 * The access server's connection to one router. Frames queued in a turn are written at the
 * end of it, coalesced into writes of at most `batchBytes`, each frame numbered with this
 * link's own seq. While the router is away, publishes wait (bounded in frames and bytes,
 * oldest dropped and counted) and subscription frames are dropped: the re-subscribe on
 * connect rebuilds them from the subscriber table. While it is up, at most `limitBytes` of
 * publishes wait unsent: beyond that a burst's excess is dropped and counted (a normal
 * group's message is one publish per member), the link and its subscriptions untouched.
 * A router that takes nothing for STALL_MS (2 s) with that much waiting has stopped reading (a
 * stopped process, a stalled host): the link is closed as down and reconnected, so the
 * access server never holds more. Subscription frames are never dropped while up: a
 * router that missed one would stay wrong until the next reconnect.
 * Reconnects back off from 100 ms, doubling to `reconnectMaxMs` (2 s by default), with
 * jitter (servers that lost the same router do not come back in lockstep), and start again
 * from 100 ms once a link has stayed up for 5 s. A quiet link is checked with PING (see
 * SILENT_MS).
 */
export class RouterLink {
  readonly addr: HostPort;
  readonly label: string;
  state: LinkState = 'connecting';
  framesOut = 0;
  framesIn = 0;
  dropped = 0;
  /** Publishes dropped while up: more than `limitBytes` was waiting. */
  overLimit = 0;
  connects = 0;
  readonly #handlers: RouterLinkHandlers;
  readonly #limits: RouterLinkLimits;
  #socket: net.Socket | undefined;
  #delay = MIN_DELAY_MS;
  #upSince = 0;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #out: Buffer[] = [];
  #outBytes = 0;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #scheduled = false;
  /** The current socket's: does it take what is written? */
  #progress: WriteProgress | undefined;
  /** Why this side closed the current socket, if it did. */
  #cutFor: string | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** When the router last sent anything on this socket. */
  #heardAt = 0;
  /**
   * Whether this router answers PING, learned on any connection to it and kept across them
   * (undefined: not known yet). A TCP connect to a router whose process is stopped succeeds
   * (its kernel accepts), so a router known to answer must answer again before its link is up.
   * (A GoBelieve router put in its place on the same address is linked after this server restarts.)
   */
  #answersPing: boolean | undefined;
  #firstPingAt = 0;
  /** This connection is waiting for its first PONG before it counts as up. */
  #probing = false;

  constructor(addr: HostPort, handlers: RouterLinkHandlers, limits: RouterLinkLimits) {
    this.addr = addr;
    this.label = `${addr.host}:${addr.port}`;
    this.#handlers = handlers;
    this.#limits = limits;
  }

  get up(): boolean {
    return this.state === 'up';
  }

  get liveness(): Liveness {
    return this.#answersPing === true ? 'checked' : this.#answersPing === false ? 'not checked' : 'unknown';
  }

  /** Frames waiting: written this turn, or held for the router's return. */
  get queued(): number {
    return this.#out.length + this.#held.length;
  }

  /** Bytes waiting: held, queued this turn, and written but not yet taken by the socket. */
  get queuedBytes(): number {
    return this.#heldBytes + this.#outBytes + (this.#socket?.writableLength ?? 0);
  }

  start(): void {
    this.#connect();
  }

  /** SUBSCRIBE, UNSUBSCRIBE and their room forms: pointless while down (see the class note). */
  sendSubscription(frame: Buffer): boolean {
    if (!this.up) return false;
    this.#queue(frame, false);
    return true;
  }

  /**
   * Whether a publish of `bytes` would go out or be held now. A refusal counts as its drop:
   * a caller that would build the frame only to have it dropped builds nothing.
   */
  admit(bytes: number): boolean {
    if (this.up) return this.#room(bytes, true);
    if (this.#limits.holdFrames > 0 && bytes <= this.#limits.limitBytes) return true;
    this.dropped++;
    return false;
  }

  sendPublish(frame: Buffer): void {
    if (this.up) return this.#queue(frame, true);
    const { holdFrames, limitBytes } = this.#limits;
    if (holdFrames === 0 || frame.length > limitBytes) {
      this.dropped++;
      return;
    }
    this.#held.push(frame);
    this.#heldBytes += frame.length;
    while (this.#held.length > holdFrames || this.#heldBytes > limitBytes) {
      this.#heldBytes -= this.#held.shift()!.length;
      this.dropped++;
    }
  }

  /** Writes everything queued now, then closes. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    const s = this.#socket;
    if (s === undefined || s.destroyed) return;
    this.#flush();
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end();
      setTimeout(() => s.destroy(), 2000).unref();
    });
  }

  #connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const s = net.connect({ host: this.addr.host, port: this.addr.port });
    this.#socket = s;
    s.setNoDelay(true);
    s.setKeepAlive(true, KEEPALIVE_MS);
    const decoder = new FrameDecoder({ accept: ROUTER_CMDS });
    let failure = 'closed';
    this.#cutFor = undefined;
    this.#progress = new WriteProgress(s, () => this.#stalled(s));
    s.on('connect', () => {
      this.#seq = 0;
      if (this.#answersPing !== true) return this.#linked(s, false);
      // Known to answer: up once it does (within ROUTER_SILENT_MS, else cut and dialled again).
      this.#probing = true;
      if (this.#limits.hello !== undefined) s.write(this.#limits.hello);
      s.write(PING_FRAME);
      this.#heardAt = performance.now();
      this.#startHeartbeat(s, false);
    });
    s.on('data', (chunk: Buffer) => {
      this.#heardAt = performance.now();
      const err = decoder.push(chunk, (f) => {
        this.framesIn++;
        if (f.cmd === Cmd.PONG) {
          this.#answersPing = true;
          if (this.#probing) this.#linked(s, true);
          return;
        }
        this.#handlers.frame(this, f);
      });
      if (err !== undefined) {
        this.#handlers.invalid(this, err);
        failure = err.code;
        s.destroy();
      }
    });
    s.on('error', (err) => { failure = err.message; });
    s.on('close', () => {
      if (this.#socket !== s) return;
      clearInterval(this.#heartbeat);
      this.#probing = false;
      const wasUp = this.state === 'up' || this.#cutFor !== undefined;
      this.#out = [];
      this.#outBytes = 0;
      if (this.state === 'stopped') return;
      this.state = 'down';
      if (wasUp) this.#handlers.down(this, this.#cutFor ?? failure);
      if (wasUp && performance.now() - this.#upSince >= STABLE_MS) this.#delay = MIN_DELAY_MS;
      this.#timer = setTimeout(() => this.#connect(), jittered(this.#delay));
      this.#delay = nextDelay(this.#delay, this.#limits.reconnectMaxMs);
    });
  }

  /**
   * The connection counts as up: the Channel re-subscribes, what was held goes out. `probed`:
   * its hello and first PING went out at connect, and the router has answered.
   */
  #linked(s: net.Socket, probed: boolean): void {
    this.#probing = false;
    this.state = 'up';
    this.connects++;
    this.#upSince = performance.now();
    if (!probed) {
      if (this.#limits.hello !== undefined) this.#queue(this.#limits.hello, false);
      this.#startHeartbeat(s, true);
    }
    this.#handlers.up(this);
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    for (const f of held) this.#queue(f, true);
  }

  /**
   * PING on a quiet link; a router that answers PINGs and then falls silent is cut. `ping`:
   * send the first PING now (a connection up before its router was heard from).
   */
  #startHeartbeat(s: net.Socket, ping: boolean): void {
    this.#heardAt = performance.now();
    this.#firstPingAt = this.#heardAt;
    if (ping) this.#queue(PING_FRAME, false);
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      if (this.#socket !== s || !(this.up || this.#probing)) return;
      const now = performance.now();
      if (this.#answersPing === undefined && now - this.#firstPingAt > SILENT_MS) this.#answersPing = false;
      if (this.#answersPing !== true) return;
      if (now - this.#heardAt > SILENT_MS) {
        this.#cutFor = `the router answered nothing for ${Math.round((now - this.#heardAt) / 1000)} s`;
        s.destroy();
        return;
      }
      if (this.up && now - this.#heardAt >= PING_EVERY_MS) this.#queue(PING_FRAME, false);
    }, PING_EVERY_MS / 2);
    this.#heartbeat.unref();
  }

  #queue(frame: Buffer, publish: boolean): void {
    if (!this.#room(frame.length, publish)) return;
    this.#out.push(frame);
    this.#outBytes += frame.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /**
   * Up: whether `bytes` more may wait. Past the limit a publish is refused (counted), and a
   * socket that has stopped taking writes takes the link down; subscriptions always wait.
   */
  #room(bytes: number, publish: boolean): boolean {
    if (!this.#progress!.exceeds(this.#outBytes + bytes, this.#limits.limitBytes)) return true;
    if (this.#progress!.stalled()) {
      this.#stalled(this.#socket!);
      return false;
    }
    if (!publish) return true;
    this.overLimit++;
    this.#handlers.backlog(this);
    return false;
  }

  /**
   * Connected, not reading: what waits would only grow. Down it goes; the reconnect
   * re-subscribes from the table, and publishes wait (bounded) meanwhile.
   */
  #stalled(s: net.Socket): void {
    if (this.state !== 'up' || this.#socket !== s) return;
    this.dropped += this.#out.length + 1;
    this.#cutFor = `router not reading: ${s.writableLength + this.#outBytes} bytes unsent (IM_CHANNEL_QUEUE_LIMIT_BYTES), none taken for ${STALL_MS} ms`;
    this.#out = [];
    this.#outBytes = 0;
    this.state = 'down';
    s.destroy();
  }

  #flush(): void {
    this.#scheduled = false;
    const s = this.#socket;
    if (this.#out.length === 0 || s === undefined || s.destroyed || this.state !== 'up') return;
    const frames = this.#out;
    this.#out = [];
    this.#outBytes = 0;
    let i = 0;
    while (i < frames.length) {
      let size = 0;
      let j = i;
      while (j < frames.length && (j === i || size + frames[j]!.length <= this.#limits.batchBytes)) size += frames[j++]!.length;
      const b = Buffer.allocUnsafe(size);
      let p = 0;
      for (let k = i; k < j; k++) {
        const f = frames[k]!;
        f.copy(b, p);
        b.writeInt32BE(++this.#seq | 0, p + 4);
        p += f.length;
      }
      s.write(b);
      this.framesOut += j - i;
      i = j;
    }
    this.#progress!.wrote();
  }
}
