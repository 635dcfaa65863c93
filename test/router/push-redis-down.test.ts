import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { eventually, startProcess } from '../helpers/process.ts';

/*
 * Redis away (here: a port that resets every connection, so each of the router's attempts
 * is seen and fails at once): however many reconnects fail, the router says so once per
 * 10 s. The attempts are counted where they arrive, so the test cannot pass for want of them.
 */
test('Redis away: the router says so once per 10 s, not at every reconnect', async () => {
  let attempts = 0;
  const fake = net.createServer((s) => {
    attempts++;
    s.resetAndDestroy();
  }).listen(0, '127.0.0.1');
  await once(fake, 'listening');
  const imr = await startProcess('src/router/main.ts', {
    IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_REDIS_URL: `redis://127.0.0.1:${(fake.address() as net.AddressInfo).port}`,
  });
  const said = () => imr.lines.filter((l) => l.includes('redis push connection error'));
  try {
    await eventually(() => attempts >= 3 && said().length >= 1, 20_000, 'three failed connections');
    // Each attempt's error was handled before the next attempt began.
    assert.is(said().length, 1, said().join('\n'));
  } finally {
    assert.is(await imr.stop(), 0);
    fake.close();
  }
});

test.run();
