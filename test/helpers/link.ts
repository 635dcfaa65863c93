import net from 'node:net';
import { once } from 'node:events';
import { Cmd, FrameDecoder, ROUTER_CMDS, codecs, encodeFrame, type Frame, type MessageCodec } from '../../src/protocol/index.ts';

/** A simulated access server's link to a router: the project's codec over a real socket. */
export class FakeLink {
  readonly socket: net.Socket;
  /** What the router sent, PONGs left out. */
  readonly frames: Frame[] = [];
  /** The seq of every frame the router sent, PONGs included. */
  readonly seqs: number[] = [];
  #pongs: (() => void)[] = [];
  #seq = 0;
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const d = new FrameDecoder({ accept: ROUTER_CMDS });
    socket.on('data', (c: Buffer) => d.push(c, (f) => {
      this.seqs.push(f.seq);
      if (f.cmd === Cmd.PONG) return void this.#pongs.shift()?.();
      this.frames.push(f);
      for (const w of this.#waiters.splice(0)) w();
    }));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<FakeLink> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await once(s, 'connect');
    return new FakeLink(s);
  }

  send<T>(codec: MessageCodec<T>, msg: T): void {
    this.socket.write(encodeFrame(codec, msg, ++this.#seq, 0));
  }

  /**
   * A PING/PONG round trip: the router handles a link's frames in order and writes a
   * link's frames in order, so what it had sent this link before the PONG has arrived.
   */
  ping(): Promise<void> {
    const p = new Promise<void>((resolve) => this.#pongs.push(resolve));
    this.send(codecs.PING, {});
    return p;
  }

  raw(b: Buffer): void {
    this.socket.write(b);
  }

  /** Waits until `n` frames have arrived in total. */
  async waitFrames(n: number, ms = 3000): Promise<Frame[]> {
    const end = Date.now() + ms;
    while (this.frames.length < n) {
      if (this.closed || Date.now() > end) throw new Error(`expected ${n} frames, got ${this.frames.length}${this.closed ? ' (link closed)' : ''}`);
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
    }
    return this.frames;
  }

  async waitClosed(ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > end) throw new Error('link was not closed');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
