/**
 * /healthz reports each dependency and answers 503 when the server cannot do its job: a
 * router it cannot reach, a group database that does not answer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, freePort, httpJson, startProcess } from '../helpers/process.ts';
import { startIm } from '../helpers/im.ts';

test('IM_ROUTE_ADDRS pointing at nothing: 503, the router link named and down; up once a router listens', async () => {
  const port = await freePort();
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_ROUTE_ADDRS: `127.0.0.1:${port}`, IM_LOG_LEVEL: 'fatal' });
  try {
    const h = await httpJson(im.httpPort, '/healthz');
    assert.is(h.status, 503);
    assert.is(h.body.ok, false);
    assert.equal(h.body.routers.map((r: { router: string }) => r.router), [`127.0.0.1:${port}`]);
    assert.is.not(h.body.routers[0].state, 'up');
    const imr = await startProcess('src/router/main.ts', { IMR_PORT: String(port), IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
    try {
      await eventually(async () => (await httpJson(im.httpPort, '/healthz')).status === 200, 10_000, 'healthy once the router listens');
    } finally {
      await imr.stop();
    }
  } finally {
    await im.stop();
  }
});

test('a MySQL group source that does not answer: the server starts, /healthz is 503 and says which', async () => {
  const port = await freePort();
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_MYSQL_URL: `mysql://root@127.0.0.1:${port}/gobelieve`, IM_LOG_LEVEL: 'fatal' });
  try {
    const h = await httpJson(im.httpPort, '/healthz');
    assert.is(h.status, 503);
    assert.equal([h.body.groups, h.body.store, h.body.channel, h.body.redis], [false, 'off', 'standalone', 'off']);
    assert.ok(h.body.shards.every(Boolean), 'the shards themselves are fine');
  } finally {
    await im.stop();
  }
});

test.run();
