import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import type { StoreControl, StoreStart } from '../store/control.ts';
import { StoreClient } from '../store/client.ts';
import { endpoint } from '../threads/endpoint.ts';
import { deadline } from '../threads/deadline.ts';
import { portPairs } from '../threads/ports.ts';

const STORE_ENTRY = new URL('../../workers/store.ts', import.meta.url);
/** A store thread that lived at least this long is replaced at once; one that died sooner, after a growing pause. */
const STABLE_MS = 10_000;
const FIRST_PAUSE_MS = 250;
const MAX_PAUSE_MS = 5000;

interface Running {
  worker: Worker;
  control: Comlink.Remote<StoreControl>;
  /** It answered a ping: its engine is open. */
  ready: boolean;
  readyAt: number;
}

export interface StoreSupervisorOptions {
  config: ServerConfig;
  log: Logger;
  resourceLimits: { maxYoungGenerationSizeMb?: number };
  /** Hands each shard (by index) its port to a replacement store thread. */
  rewire(ports: MessagePort[]): Promise<void>;
}

/**
 * The store thread, seen from the main thread, supervised like the shards and the Channel.
 * One that dies (a bug, a driver fault, an out-of-memory) is replaced: every thread's
 * StoreClient fails what it had in flight at once (no ACK: clients send again) and is
 * handed a port to the new thread, which opens the engine afresh. The main thread's own
 * client (the HTTP API) is the same object throughout.
 *
 * A store that cannot start at all (the embedded file is locked by another server, an
 * unwritable directory) stops the server at start-up (exit 2); after that, a replacement
 * that dies during its start is tried again after a pause that grows to 5 s.
 */
export class StoreSupervisor {
  readonly client: StoreClient;
  /** The first store thread's port for each shard, by index. */
  readonly shardPorts: MessagePort[];
  readonly #opts: StoreSupervisorOptions;
  #running!: Running;
  #own!: MessagePort;
  #stopping = false;
  #everReady = false;
  #quickDeaths = 0;
  #restarts = 0;

  /** Starts the first store thread. */
  constructor(opts: StoreSupervisorOptions) {
    this.#opts = opts;
    this.shardPorts = this.#spawn();
    this.client = new StoreClient(this.#own, opts.config.storeTimeoutMs);
  }

  get control(): Comlink.Remote<StoreControl> {
    return this.#running.control;
  }

  /** Times the store thread was replaced. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Finishes what the store thread was asked, then ends it. */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    await deadline(this.#running.control.stop(), deadlineMs, 'store stop')
      .catch((err: unknown) => this.#opts.log.warn({ err: (err as Error).message }, 'store did not stop cleanly'));
    await this.#running.worker.terminate();
  }

  /** Test hook: the store thread exits as if it had crashed. */
  async crash(): Promise<void> {
    await this.#running.control.crash();
  }

  #spawn(): MessagePort[] {
    const { config, log } = this.#opts;
    // One port per shard, and the last one the main thread's own.
    const [mine, theirs] = portPairs(config.shards + 1);
    this.#own = mine.pop()!;
    const { port1, port2 } = new MessageChannel();
    const start: StoreStart = { config, ports: theirs, control: port2 };
    const worker = new Worker(STORE_ENTRY, { workerData: start, transferList: [...theirs, port2] as never, name: 'store', resourceLimits: this.#opts.resourceLimits });
    const running: Running = { worker, control: Comlink.wrap<StoreControl>(endpoint(port1)), ready: false, readyAt: 0 };
    this.#running = running;
    running.control.ping().then(() => {
      running.ready = true;
      running.readyAt = Date.now();
      this.#everReady = true;
    }, () => {});
    worker.on('error', (err: Error) => {
      log.error({ err }, 'store worker failed');
      // Not a fault to ride out: a server that cannot store must not start (exit 2, like bad configuration).
      if (!this.#everReady && !this.#stopping) {
        const locked = /locked/i.test(err.message) ? ` (is another server using IM_STORE_DB=${config.storeDb}?)` : '';
        process.stderr.write(`im: the message store could not start: ${err.message}${locked}\n`);
        process.exit(2);
      }
    });
    worker.on('exit', (code) => this.#exited(running, code));
    return mine;
  }

  #exited(dead: Running, code: number): void {
    if (this.#stopping || dead !== this.#running || !this.#everReady) return;
    const lived = dead.ready ? Date.now() - dead.readyAt : 0;
    this.#quickDeaths = lived >= STABLE_MS ? 0 : this.#quickDeaths + 1;
    const pause = this.#quickDeaths === 0 ? 0 : Math.min(MAX_PAUSE_MS, FIRST_PAUSE_MS * 2 ** (this.#quickDeaths - 1));
    this.#opts.log.error({ code, pauseMs: pause }, 'store worker exited: replacing it (requests in flight fail, clients send again)');
    setTimeout(() => this.#replace(), pause).unref();
  }

  #replace(): void {
    if (this.#stopping) return;
    const ports = this.#spawn();
    this.#restarts++;
    this.client.setPort(this.#own);
    // Requests sent on the new ports wait in them until the new thread listens.
    this.#opts.rewire(ports)
      .then(() => this.#opts.log.warn({ restarts: this.#restarts }, 'store restarted'),
        (err: unknown) => this.#opts.log.error({ err }, 'wiring the replacement store failed'));
  }
}
