import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startIm } from '../helpers/im.ts';
import { eventually, freePort } from '../helpers/process.ts';

/*
 * A server whose PostgreSQL, router or MySQL cannot be reached still starts (they may come
 * later), but says so: the ready line lists what is down, a warning names each and its
 * variable, and the warning comes again while it stays down.
 */
test('unreachable PostgreSQL, router and MySQL at start-up: named in the ready line and in repeated warnings', async () => {
  const [pgPort, routerPort, mysqlPort] = [await freePort(), await freePort(), await freePort()];
  const im = await startIm({
    IM_STORE: 'postgres', IM_STORE_URL: `postgres://im:pw@127.0.0.1:${pgPort}/im`, IM_ROUTE_ADDRS: `127.0.0.1:${routerPort}`,
    IM_MYSQL_URL: `mysql://im:pw@127.0.0.1:${mysqlPort}/gobelieve`, IM_SHARDS: '1',
  });
  try {
    assert.equal(im.ready.down, [
      'the message store (PostgreSQL) (IM_STORE_URL)', `the router at 127.0.0.1:${routerPort} (IM_ROUTE_ADDRS)`, 'the group source (MySQL) (IM_MYSQL_URL)',
    ]);
    const warnings = (variable: string) => im.lines.filter((l) => l.includes('"level":40') && l.includes(`"variable":"${variable}"`)).length;
    for (const v of ['IM_STORE_URL', 'IM_ROUTE_ADDRS', 'IM_MYSQL_URL']) assert.is(warnings(v), 1, v);
    await eventually(() => ['IM_STORE_URL', 'IM_ROUTE_ADDRS', 'IM_MYSQL_URL'].every((v) => warnings(v) >= 2), 15_000, 'warned again while down');
  } finally {
    await im.kill();
  }
});

test('with every dependency up, the ready line lists nothing down', async () => {
  const im = await startIm({ IM_SHARDS: '1' });
  try {
    assert.is(im.ready.down, undefined);
  } finally {
    assert.is(await im.stop(), 0);
  }
});

test.run();
