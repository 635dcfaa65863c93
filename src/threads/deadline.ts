/** A call to another thread that did not answer in time. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  readonly code = 'ERR_DEADLINE';
}

/** A deadline set with `after`: cancel it once what it waited for has come. */
export interface Deadline {
  cancel(): void;
}

interface Entry extends Deadline {
  due: number;
  fn: (() => void) | undefined;
}

/**
 * Every deadline of this thread, on one timer. Deadlines of one length fall due in the order
 * they were set, so each length keeps a queue and the timer is armed for the earliest head;
 * a cancelled deadline is dropped when it reaches its head. Setting one costs no timer of its
 * own: what waits on it is batched (a turn's store requests share one).
 */
const queues = new Map<number, { entries: Entry[]; head: number }>();
let timer: NodeJS.Timeout | undefined;
let armedFor = Infinity;

function arm(): void {
  let next = Infinity;
  for (const [ms, q] of queues) {
    while (q.head < q.entries.length && q.entries[q.head]!.fn === undefined) q.head++;
    if (q.head === q.entries.length) {
      queues.delete(ms);
      continue;
    }
    if (q.head > 1024 && q.head * 2 > q.entries.length) {
      q.entries = q.entries.slice(q.head);
      q.head = 0;
    }
    next = Math.min(next, q.entries[q.head]!.due);
  }
  if (next === armedFor) return;
  clearTimeout(timer);
  armedFor = next;
  timer = next === Infinity ? undefined : setTimeout(fire, Math.max(0, next - performance.now()));
  timer?.unref();
}

function fire(): void {
  armedFor = Infinity;
  timer = undefined;
  const now = performance.now();
  const expired: (() => void)[] = [];
  for (const q of queues.values()) {
    for (; q.head < q.entries.length && q.entries[q.head]!.due <= now; q.head++) {
      const e = q.entries[q.head]!;
      if (e.fn !== undefined) expired.push(e.fn);
      e.fn = undefined;
    }
  }
  arm();
  for (const fn of expired) fn();
}

/** Runs `fn` in `ms` unless cancelled first. */
export function after(ms: number, fn: () => void): Deadline {
  const due = performance.now() + ms;
  const e: Entry = { due, fn, cancel: () => { e.fn = undefined; } };
  let q = queues.get(ms);
  if (q === undefined) queues.set(ms, q = { entries: [], head: 0 });
  q.entries.push(e);
  if (due < armedFor) arm();
  return e;
}

/** `p`, or a DeadlineError once `ms` have passed: no wait between threads is unbounded. */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const d = after(ms, () => reject(new DeadlineError(`${what}: no answer within ${ms} ms`)));
    p.then((v) => { d.cancel(); resolve(v); }, (err: unknown) => { d.cancel(); reject(err); });
  });
}
