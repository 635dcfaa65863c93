import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageChannel } from 'node:worker_threads';
import { StoreService } from '../../src/store/service.ts';
import { StoreClient } from '../../src/store/client.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { MessageSave, Saved, SaveItem, StoreEngine } from '../../src/store/types.ts';

/*
 * An engine with lanes serves batches as they come; reads and acknowledged keys still go in
 * the order the batches came. An engine whose writes are slow and reads fast shows it.
 */
function slowWrites(): StoreEngine {
  const acked = new Map<string, number>();
  const later = <T>(ms: number, v: () => T) => new Promise<T>((r) => setTimeout(() => r(v()), ms));
  let key = 0;
  return {
    save: (items: SaveItem[]) => later(30, () => items.map((): Saved => ({ key: ++key, prev: key - 1 }))),
    saveInLanes: (messages: readonly MessageSave[]) => later(30, () => messages.map((m) => m.items.map((): Saved => ({ key: ++key, prev: key - 1 })))),
    ack: (appid, uid, gid, k) => later(50, () => { acked.set(`${appid}:${uid}:${gid}`, Math.max(acked.get(`${appid}:${uid}:${gid}`) ?? 0, k)); }),
    acked: async (appid, uid, gid) => acked.get(`${appid}:${uid}:${gid}`) ?? 0,
    page: async () => ({ messages: [], newest: 0, more: false }),
    newestPage: async () => ({ messages: [], newest: 0, more: false }),
    nthNewest: async () => 0,
    latest: async () => [],
    countAfter: async () => 0,
    sweep: async () => 0,
    ping: async () => {},
    backup: async () => 0,
    close: async () => {},
  };
}

test('a key acknowledged in one turn is what the next turn reads, though the engine takes batches at once', async () => {
  const service = new StoreService({ engine: slowWrites(), name: 'fake', retentionDays: 0, log: createLogger('test', 'silent', false), hungMs: 60_000, onHung: () => {} });
  const { port1, port2 } = new MessageChannel();
  service.listen(port2);
  const client = new StoreClient(port1, 5000);
  try {
    const ack = client.call({ op: 'ack', appid: 1, uid: 2, gid: 3, key: 42 });
    await new Promise((r) => setImmediate(r)); // the next turn: a batch of its own
    const read = await client.call({ op: 'acked', appid: 1, uid: 2, gid: 3 });
    await ack;
    assert.is(read, 42);
  } finally {
    port1.close();
    await service.close();
  }
});

test.run();
