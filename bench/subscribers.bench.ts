/**
 * Subscriber table: add+remove pairs per second on one thread against a plain Map-based
 * table of the same semantics (packed count, shard mask, previous value returned), then the
 * shared table under contention from 2 threads against 1 thread, in the same run.
 * Run: npm run bench:subscribers
 */
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { SubscriberTable } from '../src/subscribers/index.ts';
import { fmt, measure, ratio } from './harness.ts';

/**
 * The obvious single-threaded implementation: what the shared table must not be much slower
 * than. Numeric keys (appid and uid folded into one safe integer) and a numeric mask, so the
 * baseline pays for no string building or BigInt arithmetic the table does not pay for either.
 */
class MapTable {
  readonly #m = new Map<number, { count: number; mask: number }>();
  add(appid: number, uid: number, online: boolean, shard: number): number {
    const key = appid * 2 ** 32 + uid;
    let e = this.#m.get(key);
    if (e === undefined) this.#m.set(key, (e = { count: 0, mask: 0 }));
    const prev = e.count;
    e.count = (prev + (online ? 0x10001 : 1)) >>> 0;
    e.mask |= 1 << shard;
    return prev;
  }
  remove(appid: number, uid: number, online: boolean, shard: number): number {
    const key = appid * 2 ** 32 + uid;
    const e = this.#m.get(key)!;
    const prev = e.count;
    e.count = (prev - (online ? 0x10001 : 1)) >>> 0;
    if ((e.count & 0xffff) === 0) this.#m.delete(key);
    else e.mask &= ~(1 << shard);
    return prev;
  }
}

const KEYS = 10_000;
const N = 1000;
const shared = SubscriberTable.create(KEYS * 2);
const plain = new MapTable();
// Half the keys stay live so that lookups hit populated probe chains, as in production.
for (let uid = 0; uid < KEYS; uid += 2) { shared.addUser(1, uid, true, 0, true); plain.add(1, uid, true, 0); }

let j = 0;
const out: number[] = [];
// Even uids stay live (a pair only moves their counts); odd uids go 0 → 1 → 0, so each pair
// creates the key and reclaims its slot, as a user's only device logging in and out does.
const live = (k: number) => ((k * 7) % KEYS) & ~1;
const churn = (k: number) => ((k * 7) % KEYS) | 1;
const results = await measure('subscriber table, one thread (one op = one add or one remove)', [
  { name: 'live keys: Map-based table', ops: 2 * N, fn: () => { for (let i = 0; i < N; i++, j++) { const u = live(j); plain.add(1, u, true, 1); plain.remove(1, u, true, 1); } } },
  { name: 'live keys: SubscriberTable', ops: 2 * N, fn: () => { for (let i = 0; i < N; i++, j++) { const u = live(j); shared.addUser(1, u, true, 1, false); shared.removeUser(1, u, true, 1, false); } } },
  { name: 'churn keys: Map-based table', ops: 2 * N, fn: () => { for (let i = 0; i < N; i++, j++) { const u = churn(j); plain.add(1, u, true, 1); plain.remove(1, u, true, 1); } } },
  { name: 'churn keys: SubscriberTable', ops: 2 * N, fn: () => { for (let i = 0; i < N; i++, j++) { const u = churn(j); shared.addUser(1, u, true, 1, false); shared.removeUser(1, u, true, 1, false); } } },
  // The routing path: which shards hold a receiver (half of them offline, so absent).
  { name: 'lookups: SubscriberTable.shards', ops: N, fn: () => { for (let i = 0; i < N; i++, j++) shared.shards(0, 1, (j * 7) % KEYS, out); } },
]);
const get = (k: string) => results.get(k)!;
console.log(`\nlive keys: SubscriberTable vs Map ${ratio(get('live keys: SubscriberTable'), get('live keys: Map-based table'))}x`);
console.log(`churn keys: SubscriberTable vs Map ${ratio(get('churn keys: SubscriberTable'), get('churn keys: Map-based table'))}x`);

async function threads(n: number, keys: number, ms: number): Promise<number> {
  const t = SubscriberTable.create(keys * 2);
  const ws = Array.from({ length: n }, (_, shard) => new Worker(new URL('./fixtures/table-worker.ts', import.meta.url), { workerData: { buffer: t.buffer, shard, keys, ms } }));
  await Promise.all(ws.map((w) => once(w, 'message')));
  const done = ws.map((w) => once(w, 'message'));
  for (const w of ws) w.postMessage('go');
  const pairs = (await Promise.all(done)).reduce((a, [p]) => a + (p as number), 0);
  await Promise.all(ws.map((w) => w.terminate()));
  return (pairs * 1000) / ms;
}

console.log('\n## contention (same keys from every thread)');
console.log('| threads | keys | pairs/s | vs 1 thread |');
console.log('|---:|---:|---:|---:|');
for (const keys of [16, 10_000]) {
  const one = await threads(1, keys, 1500);
  const two = await threads(2, keys, 1500);
  console.log(`| 1 | ${keys} | ${fmt(one)} | 1.00 |`);
  console.log(`| 2 | ${keys} | ${fmt(two)} | ${(two / one).toFixed(2)} |`);
}
