/**
 * The end of an event-loop turn, once per thread: what a turn's work leaves to send (store
 * requests, hand-offs to other shards, items for the Channel, clients' writes) goes out in
 * one pass, outlet by outlet in a fixed order, after every read of the turn. One immediate a
 * turn, however many outlets have something, and never one in a turn that left nothing.
 *
 * The order: the store first (a save takes longest, so it starts first), then this thread's
 * own clients, then the other shards and the Channel, and last the turn count the read
 * budgets go by: the order the separate immediates ran in before, for a message delivered
 * here and handed on. Posting to the other shards before writing to the clients measured no
 * faster, and a room fan-out over two shards slower on two cores (bench/RESULTS.md).
 */
export const Outlet = { STORE: 0, CLIENTS: 1, PEERS: 2, CHANNEL: 3, TURN: 4 } as const;
export type Outlet = (typeof Outlet)[keyof typeof Outlet];

const OUTLETS = 5;
const due: (() => void)[][] = Array.from({ length: OUTLETS }, () => []);
let scheduled = false;
/** The outlet being flushed, or -1: work for a later one joins this pass. */
let running = -1;

function endTurn(): void {
  scheduled = false;
  for (let o = 0; o < OUTLETS; o++) {
    const fns = due[o]!;
    if (fns.length === 0) continue;
    due[o] = [];
    running = o;
    try {
      for (const fn of fns) fn();
    } finally {
      running = -1;
    }
  }
}

/**
 * Runs `fn` at the end of this turn, with `outlet`'s others. The caller asks once a turn (it
 * keeps its own flag), so that each outlet's work is one call.
 */
export function atEndOfTurn(outlet: Outlet, fn: () => void): void {
  due[outlet]!.push(fn);
  if (scheduled || outlet > running && running >= 0) return;
  scheduled = true;
  setImmediate(endTurn);
}
