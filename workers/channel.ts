/**
 * Channel worker entry: the only thread that talks to other access servers, through routers
 * or through NATS. Shards send it what they publish and the subscription transitions they
 * observe; it hands what other servers send to the shards the subscriber table names.
 */
import { workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { SubscriberTable } from '../src/subscribers/index.ts';
import { Channel } from '../src/channel/channel.ts';
import { NatsChannel } from '../src/channel/nats.ts';
import type { ChannelControl, ChannelStart } from '../src/channel/control.ts';
import { endpoint } from '../src/threads/endpoint.ts';
import { createLogger } from '../src/log/logger.ts';
import { codecs, encodeFrame } from '../src/protocol/index.ts';
import { LogPushSink, RedisPushSink } from '../src/push/push.ts';

const start = workerData as ChannelStart;
const config = start.config;
const log = createLogger('im.channel', config.logLevel, config.logPretty);
const table = new SubscriberTable(start.table);
let channel: Channel | NatsChannel;
let started: Promise<string | null>;
if (config.nats !== undefined) {
  const nats = new NatsChannel({
    table, nats: config.nats, shards: start.shards, log,
    holdFrames: config.channelQueueLimit, holdBytes: config.channelQueueLimitBytes,
    push: config.redisUrl !== undefined
      ? new RedisPushSink(config.redisUrl, config.channelQueueLimit, config.channelQueueLimitBytes, log)
      : new LogPushSink(log, 'IM_REDIS_URL'),
    name: `im pid ${process.pid}`,
  });
  channel = nats;
  started = nats.start();
} else {
  const routers = new Channel({
    table,
    routers: config.routeAddrs,
    groupRouters: config.groupRouteAddrs,
    shards: start.shards,
    limits: {
      batchBytes: config.channelBatchBytes,
      holdFrames: config.channelQueueLimit,
      limitBytes: config.channelQueueLimitBytes,
      reconnectMaxMs: config.routeReconnectMaxMs,
      hello: config.routeSecret === undefined ? undefined
        : encodeFrame(codecs.LINK_AUTH, { secret: Buffer.from(config.routeSecret) }, 0, 0),
    },
    log,
  });
  routers.start();
  channel = routers;
  started = Promise.resolve(null);
}

const control: ChannelControl = {
  started: () => started,
  stats: () => channel.stats(),
  stop: (drained) => channel.stop(drained),
  ping: () => true,
  setShard: (index, port) => channel.setShard(index, port),
  crash: () => {
    if (config.testHooks) setImmediate(() => process.exit(70));
  },
};
Comlink.expose(control, endpoint(start.control));
