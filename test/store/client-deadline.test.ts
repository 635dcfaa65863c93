/**
 * A thread's side of the store (StoreClient): each turn's requests share one deadline; those
 * the store answers in time resolve, the others fail with ERR_STORE_TIMEOUT, batch by batch.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageChannel } from 'node:worker_threads';
import { StoreClient } from '../../src/store/client.ts';
import type { StoreBatch, StoreReplies } from '../../src/store/protocol.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

test('a store that answers some requests: those resolve, the rest of each batch times out', async () => {
  const { port1, port2 } = new MessageChannel();
  const batches: StoreBatch[] = [];
  port2.on('message', (b: StoreBatch) => batches.push(b));
  const client = new StoreClient(port1, 150);
  const hold = setTimeout(() => {}, 2000); // the client's port does not keep the test alive
  try {
    const first = [client.call({ op: 'acked', appid: 1, uid: 1, gid: 0 }), client.call({ op: 'acked', appid: 1, uid: 2, gid: 0 })];
    await turn();
    const second = [client.call({ op: 'count', appid: 1, uid: 3, after: 0 })];
    await turn();
    for (let i = 0; i < 100 && batches.length < 2; i++) await turn();
    assert.is(batches.length, 2, 'one message a turn');
    assert.equal(batches.map((b) => b.length), [2, 1]);
    // The store answers the first request of the first batch only.
    const replies: StoreReplies = [[batches[0]![0]![0], null, 7]];
    port2.postMessage(replies);
    assert.is(await first[0], 7);
    for (const p of [first[1]!, second[0]!]) {
      await p.then(() => assert.unreachable(), (e: Error & { code?: string }) => {
        assert.is(e.code, 'ERR_STORE_TIMEOUT');
        assert.match(e.message, /did not answer (acked|count) within 150 ms/);
      });
    }
  } finally {
    clearTimeout(hold);
    port2.close();
  }
});

test.run();
