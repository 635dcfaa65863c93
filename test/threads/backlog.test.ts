/**
 * What one thread has handed another and the other has not yet handled: counted by both
 * ends of a link in shared memory, across real threads, through the counters' wrap-around,
 * and forgotten when the receiving end closes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageChannel, Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { Backlog, linkPair } from '../../src/threads/backlog.ts';
import { PortBatcher } from '../../src/threads/batcher.ts';
import { Outlet } from '../../src/threads/turn.ts';

test('posted less taken, also once the counts wrap past 2^31', () => {
  const b = new Backlog();
  b.posted(100);
  b.taken(40);
  assert.is(b.bytes, 60);
  const words = new Int32Array(b.buffer);
  words[0] = 2 ** 31 - 10;
  words[1] = 2 ** 31 - 10;
  b.posted(1000);
  assert.is(b.bytes, 1000);
  b.taken(1000);
  assert.is(b.bytes, 0);
});

test('a batcher counts what it posts; a thread that handles it counts it taken; the sender sees it from its side', async () => {
  const [ours, theirs] = linkPair(new MessageChannel());
  // The other thread holds each batch until told to go on, then marks all it got as taken.
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    const taken = new Int32Array(workerData.link.in);
    let got = 0;
    workerData.link.port.on('message', (ab) => { got += ab.byteLength; parentPort.postMessage(got); });
    parentPort.on('message', () => { Atomics.add(taken, 1, got); got = 0; parentPort.postMessage('taken'); });
  `, { eval: true, workerData: { link: theirs }, transferList: [theirs.port as never] });
  try {
    const out = new Backlog(ours.out);
    const batcher = new PortBatcher(Outlet.PEERS, [ours.port], [out]);
    batcher.to(0).raw(Buffer.alloc(5000));
    assert.is(batcher.behind(0), 5000, 'what waits for this turn\'s post counts');
    batcher.flush();
    assert.is((await once(worker, 'message'))[0], 5000);
    assert.is(batcher.behind(0), 5000, 'posted, not yet taken');
    worker.postMessage('go');
    assert.is((await once(worker, 'message'))[0], 'taken');
    assert.is(batcher.behind(0), 0);
  } finally {
    await worker.terminate();
  }
});

test('a closed port: what its thread never took no longer counts; a replacement port keeps its own', async () => {
  const [ours, theirs] = linkPair(new MessageChannel());
  ours.port.on('message', () => {}); // as a shard listens on its links (a port no one listens on reports no close)
  const batcher = new PortBatcher(Outlet.PEERS, [ours.port], [new Backlog(ours.out)]);
  batcher.to(0).raw(Buffer.alloc(100));
  batcher.flush();
  assert.is(batcher.behind(0), 100);
  const [fresh] = linkPair(new MessageChannel());
  batcher.forgetBacklog(0, fresh.port);
  assert.is(batcher.behind(0), 100, 'not the port in use: nothing forgotten');
  theirs.port.close();
  await once(ours.port, 'close');
  batcher.forgetBacklog(0, ours.port);
  assert.is(batcher.behind(0), 0);
  fresh.port.close();
});

test.run();
