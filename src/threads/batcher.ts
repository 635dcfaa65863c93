import type { MessagePort } from 'node:worker_threads';
import type { Backlog } from './backlog.ts';
import { PackedWriter } from './packed.ts';
import { atEndOfTurn, type Outlet } from './turn.ts';

/**
 * Per-turn batching toward other threads: one PackedWriter per destination port, all
 * posted once at the end of the event-loop turn in which the first item was written. A
 * destination thread wakes at most once per turn of this one, however many items.
 */
export class PortBatcher {
  readonly #ports: (MessagePort | undefined)[];
  readonly #writers: PackedWriter[];
  /** What each destination has not yet handled, where it counts it (see Backlog). */
  readonly #backlogs: (Backlog | undefined)[];
  #scheduled = false;
  readonly #flush = () => this.flush();

  readonly #outlet: Outlet;

  /** `outlet`: where in the end of the turn (threads/turn.ts) its posts go out. */
  constructor(outlet: Outlet, ports: (MessagePort | undefined)[], backlogs: (Backlog | undefined)[] = []) {
    this.#outlet = outlet;
    this.#ports = ports;
    this.#writers = ports.map(() => new PackedWriter());
    this.#backlogs = backlogs;
  }

  /** Bytes `dest` has yet to handle: posted and not taken, and what waits for this turn's post. */
  behind(dest: number): number {
    return (this.#backlogs[dest]?.bytes ?? 0) + this.#writers[dest]!.length;
  }

  has(dest: number): boolean {
    return this.#ports[dest] !== undefined;
  }

  /** The writer for `dest`; what is written to it goes out at the end of this turn. */
  to(dest: number): PackedWriter {
    if (!this.#scheduled) {
      this.#scheduled = true;
      atEndOfTurn(this.#outlet, this.#flush);
    }
    return this.#writers[dest]!;
  }

  /** A restarted thread's new port replaces the old one (what was pending for the old is dropped). */
  setPort(dest: number, port: MessagePort, backlog?: Backlog): void {
    this.#ports[dest]?.close();
    this.#ports[dest] = port;
    this.#backlogs[dest] = backlog;
    this.#writers[dest] ??= new PackedWriter();
    this.#writers[dest].take();
  }

  /** `port` closed: what `dest` has not handled no longer counts (unless a new port replaced it). */
  forgetBacklog(dest: number, port: MessagePort): void {
    if (this.#ports[dest] === port) this.#backlogs[dest] = undefined;
  }

  flush(): void {
    this.#scheduled = false;
    for (let i = 0; i < this.#writers.length; i++) {
      const ab = this.#writers[i]!.take();
      const port = this.#ports[i];
      if (ab === null || port === undefined) continue;
      this.#backlogs[i]?.posted(ab.byteLength);
      port.postMessage(ab, [ab]);
    }
  }
}
