import type { MessagePort } from 'node:worker_threads';
import { Cmd, type OutFrame } from '../protocol/index.ts';
import { Transition } from '../subscribers/index.ts';
import { PortBatcher } from './batcher.ts';
import { Outlet } from './turn.ts';
import { writeDrained, writePublish, writePublishEach, writePush, writePushTo, writeTransition } from './channel-wire.ts';

export type PublishCmd = 132 | 135 | 138; // PUBLISH, PUBLISH_GROUP, PUBLISH_ROOM

/**
 * What a shard hands to the Channel (the link to the routers). The shard has already
 * delivered locally; the Channel carries the rest to other access servers.
 */
export interface ChannelSink {
  /** True when routers are configured: messages for users online nowhere here still go out. */
  readonly linked: boolean;
  /** A subscription transition this shard observed (each is observed by exactly one thread). */
  transition(t: Transition, appid: number, id: number): void;
  publish(cmd: PublishCmd, appid: number, receiver: number, msgid: number, msg: OutFrame): void;
  /** Offline push for receivers not online here; the router drops those online elsewhere. */
  push(appid: number, receivers: readonly number[], msg: OutFrame): void;
  /** PUBLISH of one message to each receiver, each with its own msgid (a normal group's members). */
  publishEach(appid: number, receivers: readonly number[], msgids: readonly number[], msg: OutFrame): void;
}

/** No router configured: one standalone server, all routing local; offline pushes have nowhere to go. */
export class StandaloneChannel implements ChannelSink {
  readonly linked = false;
  transition(): void {}
  publish(): void {}
  publishEach(): void {}
  push(): void {}
}

/**
 * A thread's side of the Channel thread: what it hands over is packed and posted once per
 * turn (one wake-up of the Channel thread per sending thread per turn).
 */
export class ChannelPort implements ChannelSink {
  readonly linked = true;
  readonly #out: PortBatcher;

  constructor(port: MessagePort) {
    this.#out = new PortBatcher(Outlet.CHANNEL, [port]);
  }

  /** The Channel thread was restarted: report to the new one. */
  setPort(port: MessagePort): void {
    this.#out.setPort(0, port);
  }

  transition(t: Transition, appid: number, id: number): void {
    if (t !== Transition.NONE) writeTransition(this.#out.to(0), t, appid, id);
  }

  publish(cmd: PublishCmd, appid: number, receiver: number, msgid: number, msg: OutFrame): void {
    writePublish(this.#out.to(0), cmd, appid, receiver, msgid, 0, msg);
  }

  publishEach(appid: number, receivers: readonly number[], msgids: readonly number[], msg: OutFrame): void {
    if (receivers.length > 0) writePublishEach(this.#out.to(0), appid, receivers, msgids, msg);
  }

  push(appid: number, receivers: readonly number[], msg: OutFrame): void {
    // A group's push goes whole to the group's router: the Channel picks it.
    if (receivers.length === 1 && msg.cmd !== Cmd.GROUP_IM) writePushTo(this.#out.to(0), appid, receivers[0]!, msg);
    else writePush(this.#out.to(0), appid, receivers, msg);
  }

  /** The shard has closed its connections: the Channel may close the links once every shard has said so. */
  drained(shard: number): void {
    writeDrained(this.#out.to(0), shard);
    this.#out.flush();
  }

  flush(): void {
    this.#out.flush();
  }
}
