import type { MessagePort } from 'node:worker_threads';
import { PackedWriter } from './packed.ts';

/**
 * Per-turn batching toward other threads: one PackedWriter per destination port, all
 * posted once at the end of the event-loop turn in which the first item was written. A
 * destination thread wakes at most once per turn of this one, however many items.
 */
export class PortBatcher {
  readonly #ports: (MessagePort | undefined)[];
  readonly #writers: PackedWriter[];
  #scheduled = false;
  readonly #flush = () => this.flush();

  constructor(ports: (MessagePort | undefined)[]) {
    this.#ports = ports;
    this.#writers = ports.map(() => new PackedWriter());
  }

  has(dest: number): boolean {
    return this.#ports[dest] !== undefined;
  }

  /** The writer for `dest`; what is written to it goes out at the end of this turn. */
  to(dest: number): PackedWriter {
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return this.#writers[dest]!;
  }

  /** A restarted thread's new port replaces the old one (what was pending for the old is dropped). */
  setPort(dest: number, port: MessagePort): void {
    this.#ports[dest]?.close();
    this.#ports[dest] = port;
    this.#writers[dest] ??= new PackedWriter();
    this.#writers[dest].take();
  }

  flush(): void {
    this.#scheduled = false;
    for (let i = 0; i < this.#writers.length; i++) {
      const ab = this.#writers[i]!.take();
      if (ab !== null) this.#ports[i]?.postMessage(ab, [ab]);
    }
  }
}
