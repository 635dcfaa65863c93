/**
 * A connection's queue of frames waiting to be written (a ring): the same frames in the same
 * order as a plain array under any mix of pushes, removals and clears, through growth and
 * wrap-around.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameQueue } from '../../src/shard/frame-queue.ts';
import { outFrame, type OutFrame } from '../../src/protocol/index.ts';

const frame = (n: number): OutFrame => outFrame(n & 0xff, 0, Buffer.from(String(n)));

function contents(q: FrameQueue): OutFrame[] {
  return Array.from({ length: q.length }, (_, i) => q.at(i));
}

test('push, at and removeAt keep the order of a plain array, randomized', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let round = 0; round < 200; round++) {
    const q = new FrameQueue();
    const model: OutFrame[] = [];
    let next = 0;
    for (let step = 0; step < 400; step++) {
      const r = random();
      if (r < 0.55 || model.length === 0) {
        const f = frame(next++);
        q.push(f);
        model.push(f);
      } else if (r < 0.8) {
        assert.is(q.removeAt(0), model.shift());
      } else if (r < 0.97) {
        const i = Math.floor(random() * model.length);
        assert.is(q.removeAt(i), model.splice(i, 1)[0]);
      } else {
        q.clear();
        model.length = 0;
      }
      assert.is(q.length, model.length);
    }
    assert.equal(contents(q), model);
  }
});

test('a queue that drops its oldest frame as each new one comes wraps around in place', () => {
  const q = new FrameQueue();
  for (let i = 0; i < 300; i++) q.push(frame(i));
  for (let i = 300; i < 10_000; i++) {
    q.removeAt(0);
    q.push(frame(i));
  }
  assert.is(q.length, 300);
  assert.equal(contents(q).map((f) => f.body.toString()), Array.from({ length: 300 }, (_, i) => String(9700 + i)));
});

test('cleared, it is empty and takes frames again; released, too', () => {
  const q = new FrameQueue();
  for (let i = 0; i < 1000; i++) q.push(frame(i));
  q.clear();
  assert.is(q.length, 0);
  q.push(frame(1));
  assert.is(q.at(0).body.toString(), '1');
  q.release();
  assert.is(q.length, 0);
  q.push(frame(2));
  q.push(frame(3));
  assert.equal(contents(q).map((f) => f.body.toString()), ['2', '3']);
});

test.run();
