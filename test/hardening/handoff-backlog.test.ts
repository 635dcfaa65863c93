import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { login, metric, record, startIm, type Im } from '../helpers/im.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { loud } from '../helpers/loud.ts';

/*
 * A client that sends to a user on another shard faster than that shard takes it (here: the
 * shard is hung) is held back once a mebibyte waits between the two shards, instead of the
 * shard reading on and piling the rest up in the port; its neighbours on its own shard go on,
 * and once the other shard catches up, the held client is read again and its newest frames
 * arrive.
 */
const APP = 3;
let im: Im;

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '2', IM_STORE: 'off', IM_TEST_HOOKS: '1' });
}));

test.after(loud(async () => {
  assert.is(await im?.stop(), 0);
}));

test('a sender to a hung shard is paused past the hand-off backlog; its shard serves the others; it goes on after', async () => {
  // Logged in one after the other, the least-loaded placement alternates: shard 0, 1, 0, 1, 0.
  const sender = await login(im, APP, 10);
  const receiver = await login(im, APP, 11);
  const left = await login(im, APP, 12);
  const filler = await login(im, APP, 13);
  const right = await login(im, APP, 14);
  const clients = [sender, receiver, left, filler, right];
  let closed = 0;
  for (const c of clients) c.on('close', () => closed++);
  try {
    const received: string[] = [];
    receiver.on('rt', (m) => received.push(m.content.toString().slice(0, 8)));
    assert.is((await httpJson(im.httpPort, '/debug/hang_shard?shard=1&ms=4000', { method: 'POST' })).status, 200);
    // 3 MiB for the hung shard, the last frame marked.
    const filling = Buffer.alloc(1000, 0x2e);
    for (let i = 0; i < 3000; i++) sender.sendRT({ receiver: 11, content: i === 2999 ? Buffer.concat([Buffer.from('last....'), filling]) : filling });
    // Shard 0 still serves its other clients while shard 1 is hung and the sender held.
    const local = new Promise<string>((resolve) => right.once('rt', (m) => resolve(m.content.toString())));
    left.sendRT({ receiver: 14, content: 'next door' });
    assert.is(await local, 'next door');
    await eventually(() => received.includes('last....'), 30_000, 'the held sender\'s last frame delivered');
    assert.ok(received.length <= 3000);
    assert.ok(await metric(im, 'im_peer_pauses_total') >= 1, 'the sender was held back');
    for (const c of clients) await c.ping();
    assert.is(closed, 0, 'no client lost its connection');
  } finally {
    for (const c of clients) c.close();
  }
});

test('stored messages too: a sender whose saved IMs go to a hung shard is held once they are handed on', async () => {
  const stored = await startIm({ IM_SHARDS: '2', IM_TEST_HOOKS: '1' });
  const sender = await login(stored, APP, 20);
  const receiver = await login(stored, APP, 21, { ackTimeoutMs: 60_000 });
  try {
    assert.is((await httpJson(stored.httpPort, '/debug/hang_shard?shard=1&ms=4000', { method: 'POST' })).status, 200);
    // 200 IMs of 8 KiB: 1.6 MiB for the hung shard, and fewer than a client may have waiting for the store.
    const pushed = record(receiver, 'im');
    const acks = Array.from({ length: 200 }, (_, i) => sender.sendIM({ receiver: 21, content: Buffer.alloc(8000, i) }));
    for (const a of await Promise.all(acks)) assert.is(a.status, 0);
    assert.ok(await metric(stored, 'im_peer_pauses_total') >= 1, 'the sender was held back after its saves');
    assert.is(await metric(stored, 'im_store_pauses_total'), 0, 'not by the store');
    // Nothing lost: what was not pushed (a full queue drops its oldest) is synced, each once.
    const events = (await pushed.until(sender)).length;
    const { messages } = await receiver.sync();
    assert.is(events + messages.length, 200, `${events} pushed, ${messages.length} synced`);
  } finally {
    sender.close();
    receiver.close();
    assert.is(await stored.stop(), 0);
  }
});

test.run();
