import type { MessagePort } from 'node:worker_threads';
import { Transition } from '../subscribers/index.ts';
import type { OutFrame } from '../server/out-frame.ts';
import type { ChannelSink, PublishCmd } from './sink.ts';
import { ChannelWriter } from './wire.ts';

/**
 * A shard's side of the Channel: what the shard hands over is packed and posted to the
 * Channel thread once per turn (one wake-up of that thread per shard per turn).
 */
export class ChannelPort implements ChannelSink {
  readonly linked = true;
  #port: MessagePort;
  readonly #w = new ChannelWriter();
  #scheduled = false;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  /** The Channel thread was restarted: report to the new one. */
  setPort(port: MessagePort): void {
    this.#port.close();
    this.#port = port;
  }

  transition(t: Transition, appid: number, id: number): void {
    if (t === Transition.NONE) return;
    this.#w.transition(t, appid, id);
    this.#schedule();
  }

  publish(cmd: PublishCmd, appid: number, receiver: number, deviceId: number, msg: OutFrame): void {
    this.#w.publish(cmd, msg.cmd, msg.flag, appid, receiver, deviceId, msg.body);
    this.#schedule();
  }

  push(appid: number, receivers: readonly number[], msg: OutFrame): void {
    this.#w.push(msg.cmd, msg.flag, appid, receivers, msg.body);
    this.#schedule();
  }

  flush(): void {
    this.#scheduled = false;
    const ab = this.#w.take();
    if (ab !== null) this.#port.postMessage(ab, [ab]);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }
}
