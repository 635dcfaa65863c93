/**
 * Shard worker entry: wires a Shard to its ports. Sockets arrive on the parent port;
 * the control plane (stats, drain) is served over comlink on its own port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { SubscriberTable } from '../src/subscribers/index.ts';
import { Shard } from '../src/server/shard.ts';
import { endpoint, type MainServices, type ShardControl, type ShardStart, type SocketHandoff } from '../src/server/control.ts';
import { createLogger } from '../src/log/logger.ts';
import { StandaloneChannel } from '../src/channel/sink.ts';
import { ChannelPort } from '../src/channel/shard-port.ts';
import { createAuthenticator } from '../src/auth/create.ts';
import { inject } from '../src/server/inject.ts';

const start = workerData as ShardStart;
const log = createLogger(`im.shard${start.index}`, start.config.logLevel, start.config.logPretty);
const auth = createAuthenticator(start.config);
const services = Comlink.wrap<MainServices>(endpoint(start.services));
const channelPort = start.channel !== undefined ? new ChannelPort(start.channel) : undefined;
const shard = new Shard({
  index: start.index,
  config: start.config,
  table: new SubscriberTable(start.table),
  ledger: new SubscriberTable(start.ledger),
  load: new Int32Array(start.load),
  peers: start.peers,
  channel: channelPort ?? new StandaloneChannel(),
  auth,
  log,
  loadGroup: (appid, gid) => services.loadGroup(appid, gid),
});

if (start.channel !== undefined) shard.delivery.listen(start.channel);

parentPort!.on('message', (m: SocketHandoff) => {
  if (m.type === 'socket') shard.adopt(m.socket, m.kind);
});

const control: ShardControl = {
  report: () => shard.report(),
  ping: () => true,
  invalidateGroup: (appid, gid) => shard.groups.cache.invalidate(appid, gid),
  post: (p) => inject(shard, p),
  setPeer: (index, port) => shard.delivery.setPeer(index, port),
  setChannel: (port) => {
    channelPort?.setPort(port);
    shard.delivery.listen(port);
  },
  gc: () => {
    if (start.config.testHooks) (globalThis as { gc?: () => void }).gc?.();
  },
  crash: () => {
    if (start.config.testHooks) setImmediate(() => process.exit(70));
  },
  postGroupMessage: (appid, sender, gid, content) => shard.groups.post(appid, sender, gid, Buffer.from(content)),
  async drain(timeoutMs) {
    shard.closeAll();
    const end = Date.now() + timeoutMs;
    while (shard.connectionCount > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await auth.close();
    return shard.connectionCount;
  },
};
Comlink.expose(control, endpoint(start.control));
