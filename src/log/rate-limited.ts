import type { Logger } from './logger.ts';

/**
 * One warning per period for a condition that repeats with every request (a dependency
 * that is away): the first occurrence is logged at once, later ones are counted and
 * reported with the next warning.
 */
export class RateLimitedLog {
  readonly #periodMs: number;
  #last = -Infinity;
  #suppressed = 0;

  constructor(periodMs: number) {
    this.#periodMs = periodMs;
  }

  warn(log: Logger, msg: string, fields: Record<string, unknown> = {}): void {
    const now = performance.now();
    if (now - this.#last < this.#periodMs) {
      this.#suppressed++;
      return;
    }
    log.warn({ ...fields, ...(this.#suppressed > 0 ? { since_last: this.#suppressed } : {}) }, msg);
    this.#last = now;
    this.#suppressed = 0;
  }
}
