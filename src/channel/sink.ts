import type { Transition } from '../subscribers/index.ts';
import type { OutFrame } from '../server/out-frame.ts';

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
  publish(cmd: PublishCmd, appid: number, receiver: number, deviceId: number, msg: OutFrame): void;
  /** Offline push for receivers not online here; the router drops those online elsewhere. */
  push(appid: number, receivers: readonly number[], msg: OutFrame): void;
}

/** No router configured: one standalone server, all routing local. Offline pushes are counted. */
export class StandaloneChannel implements ChannelSink {
  readonly linked = false;
  offlinePushes = 0;
  transition(): void {}
  publish(): void {}
  push(_appid: number, receivers: readonly number[]): void {
    this.offlinePushes += receivers.length;
  }
}
