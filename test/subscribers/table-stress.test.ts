import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { Kind, SubscriberTable } from '../../src/subscribers/index.ts';

const THREADS = 4;
const TOTAL_OPS = Number(process.env.STRESS_OPS ?? 1_000_000);

interface Report { ledger: [string, number, number][]; seen: [string, { sub: number; unsub: number; up: number; down: number }][] }

async function stress(capacity: number, users: number, rooms: number, ops: number, firstLevel?: number): Promise<SubscriberTable> {
  const table = SubscriberTable.create(capacity, firstLevel);
  const start = new SharedArrayBuffer(4);
  const workers = Array.from({ length: THREADS }, (_, shard) => new Worker(new URL('../fixtures/table-stress-worker.ts', import.meta.url), {
    workerData: { buffer: table.buffer, start, shard, ops: ops / THREADS, seed: 1000 + shard, users, rooms },
  }));
  try {
    await run(table, start, workers);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return table;
}

test(`${THREADS} threads, ${TOTAL_OPS} adds/removes on overlapping keys: counts, masks and transitions add up`, async () => {
  await stress(512, 64, 24, TOTAL_OPS);
});

test(`${THREADS} threads on thousands of keys: levels are added while every thread reads and writes, nothing is lost`, async () => {
  // Level 0 of 1,024 slots: levels of 1,024, 2,048, 4,096, … are added as keys arrive.
  const table = await stress(100_000, 6000, 2000, TOTAL_OPS / 2, 1024);
  assert.ok(table.levels >= 4, `the table grew: ${table.levels} levels`);
  // 16,000 keys at most: 64 Ki slots (2 MiB) at a quarter load, not the 256 Ki (8 MiB) of the capacity.
  assert.ok(table.bytes <= 2 * 1024 * 1024 + 1024, `by need, not by capacity: ${table.bytes} bytes`);
});

async function run(table: SubscriberTable, start: SharedArrayBuffer, workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => once(w, 'message')));
  const first = workers.map((w) => once(w, 'message'));
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const reports = (await Promise.all(first)).map(([r]) => r as Report);

  // Expected state: the sum of the threads' ledgers.
  const expected = new Map<string, { total: number; online: number; shards: number[] }>();
  reports.forEach((r, shard) => {
    for (const [key, total, online] of r.ledger) {
      const e = expected.get(key) ?? { total: 0, online: 0, shards: [] };
      e.total += total;
      e.online += online;
      e.shards.push(shard);
      expected.set(key, e);
    }
  });
  const out: number[] = [];
  for (const [key, e] of expected) {
    const [kind, appid, id] = key.split(':').map(Number) as [Kind, number, number];
    const want = kind === Kind.ROOM ? e.total : ((e.online << 16) | e.total) >>> 0;
    assert.is(table.count(kind, appid, id), want, `count of ${key}`);
    const n = table.shards(kind, appid, id, out);
    assert.equal(out.slice(0, n), e.shards, `shard mask of ${key}`);
  }
  assert.is(table.size, expected.size, 'no other key is live');

  // Transitions observed by all threads net out to the final state, key by key.
  const checkNets = (rs: Report[]) => {
    const nets = new Map<string, { sub: number; up: number }>();
    for (const r of rs) for (const [key, s] of r.seen) {
      const n = nets.get(key) ?? { sub: 0, up: 0 };
      n.sub += s.sub - s.unsub;
      n.up += s.up - s.down;
      nets.set(key, n);
    }
    for (const [key, n] of nets) {
      const e = expected.get(key);
      assert.is(n.sub, e && e.total > 0 ? 1 : 0, `subscribe/unsubscribe net of ${key}`);
      assert.is(n.up, e && e.online > 0 ? 1 : 0, `online up/down net of ${key}`);
    }
    return nets.size;
  };
  assert.ok(checkNets(reports) > 100, 'many keys were exercised');

  // Then every thread drains at once: the table must end empty, its slots swept.
  const second = workers.map((w) => once(w, 'message'));
  for (const w of workers) w.postMessage('drain');
  const drained = (await Promise.all(second)).map(([r]) => r as Report);
  expected.clear();
  checkNets(drained);
  assert.is(table.size, 0);
  let live = 0;
  table.scan(() => live++);
  assert.is(live, 0);
}

test.run();
