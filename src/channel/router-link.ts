import net from 'node:net';
import { FrameDecoder, ROUTER_CMDS, type Frame, type ProtocolError } from '../protocol/index.ts';
import type { HostPort } from '../config/env.ts';

export type LinkState = 'connecting' | 'up' | 'down' | 'stopped';

export interface RouterLinkHandlers {
  /** Connected: the Channel re-subscribes now, before anything held is released. */
  up(link: RouterLink): void;
  down(link: RouterLink, why: string): void;
  frame(link: RouterLink, f: Frame): void;
  invalid(link: RouterLink, err: ProtocolError): void;
}

const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;

/**
 * The access server's connection to one router. Frames queued in a turn are written at the
 * end of it, coalesced into writes of at most `batchBytes`, each frame numbered with this
 * link's own seq. While the router is away, publishes wait (at most `holdLimit`, oldest
 * dropped and counted) and subscription frames are dropped: the re-subscribe on connect
 * rebuilds them from the subscriber table. Reconnects back off from 100 ms, doubling to 60 s,
 * and start again from 100 ms after a success.
 */
export class RouterLink {
  readonly addr: HostPort;
  readonly label: string;
  state: LinkState = 'connecting';
  framesOut = 0;
  framesIn = 0;
  dropped = 0;
  connects = 0;
  readonly #handlers: RouterLinkHandlers;
  readonly #batchBytes: number;
  readonly #holdLimit: number;
  #socket: net.Socket | undefined;
  #delay = MIN_DELAY_MS;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #out: Buffer[] = [];
  #held: Buffer[] = [];
  #scheduled = false;

  constructor(addr: HostPort, handlers: RouterLinkHandlers, batchBytes: number, holdLimit: number) {
    this.addr = addr;
    this.label = `${addr.host}:${addr.port}`;
    this.#handlers = handlers;
    this.#batchBytes = batchBytes;
    this.#holdLimit = holdLimit;
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Frames waiting: written this turn, or held for the router's return. */
  get queued(): number {
    return this.#out.length + this.#held.length;
  }

  start(): void {
    this.#connect();
  }

  /** SUBSCRIBE, UNSUBSCRIBE and their room forms: pointless while down (see the class note). */
  sendSubscription(frame: Buffer): boolean {
    if (!this.up) return false;
    this.#queue(frame);
    return true;
  }

  sendPublish(frame: Buffer): void {
    if (this.up) return this.#queue(frame);
    if (this.#holdLimit === 0) {
      this.dropped++;
      return;
    }
    if (this.#held.length >= this.#holdLimit) {
      this.#held.shift();
      this.dropped++;
    }
    this.#held.push(frame);
  }

  /** Writes everything queued now, then closes. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.#timer);
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
    const decoder = new FrameDecoder({ accept: ROUTER_CMDS });
    let failure = 'closed';
    s.on('connect', () => {
      this.state = 'up';
      this.connects++;
      this.#delay = MIN_DELAY_MS;
      this.#seq = 0;
      this.#handlers.up(this);
      const held = this.#held;
      this.#held = [];
      for (const f of held) this.#queue(f);
    });
    s.on('data', (chunk: Buffer) => {
      const err = decoder.push(chunk, (f) => {
        this.framesIn++;
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
      const wasUp = this.state === 'up';
      this.#out = [];
      if (this.state === 'stopped') return;
      this.state = 'down';
      if (wasUp) this.#handlers.down(this, failure);
      this.#timer = setTimeout(() => this.#connect(), this.#delay);
      this.#delay = Math.min(this.#delay * 2, MAX_DELAY_MS);
    });
  }

  #queue(frame: Buffer): void {
    this.#out.push(frame);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    const s = this.#socket;
    if (this.#out.length === 0 || s === undefined || s.destroyed || this.state !== 'up') return;
    const frames = this.#out;
    this.#out = [];
    let i = 0;
    while (i < frames.length) {
      let size = 0;
      let j = i;
      while (j < frames.length && (j === i || size + frames[j]!.length <= this.#batchBytes)) size += frames[j++]!.length;
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
  }
}
