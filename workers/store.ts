/**
 * Store worker entry: the message store's only writer (docs/store.md). Shards and the main thread
 * post it batches of requests on their ports; the control plane is served over comlink.
 */
import { workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { StoreControl, StoreStart } from '../src/store/control.ts';
import { createEngine } from '../src/store/create.ts';
import { StoreService } from '../src/store/service.ts';
import { endpoint } from '../src/threads/endpoint.ts';
import { createLogger } from '../src/log/logger.ts';

const start = workerData as StoreStart;
const log = createLogger('im.store', start.config.logLevel, start.config.logPretty);
const { engine, name } = await createEngine(start.config, log);
const service = new StoreService({
  engine, name, retentionDays: start.config.storeRetentionDays, log,
  // Ten times what a caller waits: by then every caller has given up on the call long ago.
  hungMs: Math.max(5000, 10 * start.config.storeTimeoutMs),
  // Thrown out of the thread: the main thread logs it (this thread's own last lines may
  // not reach stdout) and replaces the thread.
  onHung: (err) => { throw err; },
});
for (const port of start.ports) service.listen(port);

const control: StoreControl = {
  stats: () => service.stats(),
  ping: () => service.ping(),
  addPort: (port) => service.listen(port),
  stop: () => service.close(),
  backup: (file) => engine.backup(file),
  crash: () => {
    if (start.config.testHooks) setImmediate(() => process.exit(70));
  },
};
Comlink.expose(control, endpoint(start.control));
