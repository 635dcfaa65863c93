import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { eventually } from './process.ts';

/**
 * Peer IMs from one client to one offline receiver, `window` of them waiting for an ACK at
 * any time, each with its own content (`m<i>`). Counts what was acknowledged, and every ACK
 * frame by its seq: a message acknowledged twice is a defect even when the SDK ignores it.
 */
export class StoreLoad {
  readonly acked = new Set<string>();
  readonly ackFrames = new Map<number, number>();
  sent = 0;
  unacked = 0;
  #stopped = false;
  #workers: Promise<void>[] = [];
  readonly #c: ImClient;
  readonly #receiver: number;

  constructor(sender: ImClient, receiver: number, window = 16) {
    this.#c = sender;
    this.#receiver = receiver;
    sender.on('ack', (m: { seq: number }) => this.ackFrames.set(m.seq, (this.ackFrames.get(m.seq) ?? 0) + 1));
    for (let w = 0; w < window; w++) this.#workers.push(this.#run());
  }

  async #run(): Promise<void> {
    while (!this.#stopped && !this.#c.closed) {
      const content = `m${this.sent++}`;
      try {
        const ack = await this.#c.sendIM({ receiver: this.#receiver, content });
        if (ack.status === 0) this.acked.add(content);
        else this.unacked++;
      } catch {
        this.unacked++;
      }
    }
  }

  /** Resolves once `n` more messages were acknowledged than when it was called. */
  async more(n: number, what: string): Promise<void> {
    const target = this.acked.size + n;
    await eventually(() => this.acked.size >= target, 15_000, what);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#workers);
  }

  /**
   * Syncs the receiver from key 0 to its end and checks: every acknowledged message is
   * there, none twice, and no seq was acknowledged twice.
   */
  async verify(receiver: ImClient): Promise<{ stored: number }> {
    const seen = new Map<string, number>();
    let key = 0;
    for (;;) {
      const page = await receiver.sync(key, 20_000);
      if (page.messages.length === 0) break;
      for (const m of page.messages) {
        const content = (m.body as { content: Buffer }).content.toString();
        seen.set(content, (seen.get(content) ?? 0) + 1);
      }
      key = page.key;
    }
    const lost = [...this.acked].filter((c) => !seen.has(c));
    assert.equal(lost.slice(0, 10), [], `${lost.length} acknowledged messages lost`);
    const twice = [...seen].filter(([, n]) => n > 1).map(([c]) => c);
    assert.equal(twice.slice(0, 10), [], 'messages stored twice');
    const ackedTwice = [...this.ackFrames].filter(([, n]) => n > 1).map(([s]) => s);
    assert.equal(ackedTwice.slice(0, 10), [], 'seqs acknowledged twice');
    return { stored: seen.size };
  }
}
