import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, startProcess } from '../helpers/process.ts';

test('Redis away: the router says so once per 10 s, not at every reconnect', async () => {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
  try {
    // Reconnects back off to 5 s: in 6 s there are several failed ones.
    await new Promise((r) => setTimeout(r, 6000));
    const lines = imr.lines.filter((l) => l.includes('redis push connection error'));
    assert.is(lines.length, 1, lines.join('\n'));
  } finally {
    assert.is(await imr.stop(), 0);
  }
});

test.run();
