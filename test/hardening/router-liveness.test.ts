import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jittered, nextDelay } from '../../src/channel/router-link.ts';
import { login, startIm } from '../helpers/im.ts';
import { eventually, httpJson, startProcess } from '../helpers/process.ts';

/*
 * A router that hangs (its process stopped, its kernel still taking what is written) on a
 * quiet link is noticed: taken for down, dialled again, and the link comes back with its
 * subscriptions when the router resumes.
 */
test('a hung router on a quiet link is taken for down, and the link comes back when it resumes', async () => {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  const im = await startIm({ IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_SHARDS: '1', IM_LOG_LEVEL: 'info' });
  const c = await login(im, 9, 1);
  try {
    const state = async () => ((await httpJson(im.httpPort, '/healthz')).body.routers as { state: string }[])[0]!.state;
    await eventually(async () => (await state()) === 'up', 5000, 'linked');
    await c.ping();
    imr.proc.kill('SIGSTOP');
    try {
      // Nothing is sent on the link meanwhile: only the heartbeat can tell.
      await eventually(async () => (await state()) !== 'up', 20_000, 'the hung router taken for down');
      // The Channel thread's line reaches stdout in its own time.
      await eventually(() => im.lines.some((l) => l.includes('answered nothing for')), 10_000, 'the reason logged');
    } finally {
      imr.proc.kill('SIGCONT');
    }
    await eventually(async () => (await state()) === 'up', 20_000, 'linked again');
    const users = async () => ((await httpJson(imr.ready.httpPort as number, '/all_online')).body[0]?.users ?? []) as number[];
    await eventually(async () => (await users()).includes(1), 10_000, 're-subscribed');
  } finally {
    c.destroy();
    assert.is(await im.stop(), 0);
    await imr.stop();
  }
});

test('dialling a lost router again: the pause doubles from 100 ms to the cap (2 s by default), with jitter', () => {
  const delays: number[] = [];
  for (let d = 100, i = 0; i < 12; i++, d = nextDelay(d, 2000)) delays.push(d);
  assert.equal(delays, [100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000, 2000, 2000, 2000]);
  for (let i = 0; i < 100; i++) {
    const j = jittered(2000);
    assert.ok(j >= 1000 && j <= 3000);
  }
});

test.run();
