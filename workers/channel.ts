/**
 * Channel worker entry: the only thread that talks to routers. Shards send it what they
 * publish and the subscription transitions they observe; it hands what routers send to the
 * shards the subscriber table names.
 */
import { workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { SubscriberTable } from '../src/subscribers/index.ts';
import { Channel } from '../src/channel/channel.ts';
import type { ChannelControl, ChannelStart } from '../src/channel/control.ts';
import { endpoint } from '../src/threads/endpoint.ts';
import { createLogger } from '../src/log/logger.ts';
import { codecs, encodeFrame } from '../src/protocol/index.ts';

const start = workerData as ChannelStart;
const log = createLogger('im.channel', start.config.logLevel, start.config.logPretty);
const channel = new Channel({
  table: new SubscriberTable(start.table),
  routers: start.config.routeAddrs,
  groupRouters: start.config.groupRouteAddrs,
  shards: start.shards,
  limits: {
    batchBytes: start.config.channelBatchBytes,
    holdFrames: start.config.channelQueueLimit,
    limitBytes: start.config.channelQueueLimitBytes,
    reconnectMaxMs: start.config.routeReconnectMaxMs,
    hello: start.config.routeSecret === undefined ? undefined
      : encodeFrame(codecs.LINK_AUTH, { secret: Buffer.from(start.config.routeSecret) }, 0, 0),
  },
  log,
});
channel.start();

const control: ChannelControl = {
  stats: () => channel.stats(),
  stop: (drained) => channel.stop(drained),
  ping: () => true,
  setShard: (index, port) => channel.setShard(index, port),
  crash: () => {
    if (start.config.testHooks) setImmediate(() => process.exit(70));
  },
};
Comlink.expose(control, endpoint(start.control));
