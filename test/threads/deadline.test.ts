/**
 * One deadline mechanism for a thread (threads/deadline.ts): deadlines of several lengths on
 * one timer fire in due order, a cancelled one never fires, and deadline() settles with the
 * promise or with a DeadlineError naming what it waited for.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeadlineError, after, deadline } from '../../src/threads/deadline.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('deadlines of several lengths fire in the order they fall due; a cancelled one never', async () => {
  const fired: string[] = [];
  const t0 = performance.now();
  const at: Record<string, number> = {};
  const mark = (name: string) => () => { fired.push(name); at[name] = performance.now() - t0; };
  after(60, mark('60 a'));
  after(20, mark('20'));
  const cancelled = after(40, mark('40 cancelled'));
  after(60, mark('60 b'));
  after(40, mark('40'));
  cancelled.cancel();
  // Held open by the test: the mechanism's timer does not keep a thread alive by itself.
  await sleep(150);
  assert.equal(fired, ['20', '40', '60 a', '60 b']);
  for (const [name, ms] of Object.entries(at)) assert.ok(ms >= Number(name.split(' ')[0]) - 1, `${name} fired at ${ms.toFixed(1)} ms, not before`);
});

test('thousands of deadlines, most cancelled: only the others fire, each once', async () => {
  let fired = 0;
  const ds = Array.from({ length: 5000 }, () => after(30, () => fired++));
  ds.forEach((d, i) => { if (i % 10 !== 0) d.cancel(); });
  await sleep(100);
  assert.is(fired, 500);
});

test('deadline(): the value or the error of the promise, else a DeadlineError that names the call', async () => {
  assert.is(await deadline(Promise.resolve(7), 50, 'quick'), 7);
  await deadline(Promise.reject(new Error('own')), 50, 'failing').then(() => assert.unreachable(), (e: Error) => assert.is(e.message, 'own'));
  const never = new Promise(() => {});
  const keep = setTimeout(() => {}, 1000);
  try {
    await deadline(never, 30, 'shard 3 ping').then(() => assert.unreachable(), (e: Error) => {
      assert.instance(e, DeadlineError);
      assert.match(e.message, /^shard 3 ping: no answer within 30 ms$/);
    });
  } finally {
    clearTimeout(keep);
  }
});

test.run();
