/**
 * Doors an operator must be able to close: an HTTP API reachable beyond loopback without a
 * token is warned about; the router takes links only from IMR_ALLOW and caps what one link
 * may subscribe; /all_online is streamed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { codecs } from '../../src/protocol/index.ts';
import { FakeLink } from '../helpers/link.ts';
import { eventually, httpJson, startProcess } from '../helpers/process.ts';
import { login, startIm } from '../helpers/im.ts';

test('an HTTP API beyond loopback without IM_HTTP_TOKEN: a warning at start-up', async () => {
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_HTTP_HOST: '0.0.0.0', IM_LOG_LEVEL: 'warn' });
  try {
    assert.ok(im.lines.some((l) => l.includes('without IM_HTTP_TOKEN')));
  } finally {
    await im.stop();
  }
  const quiet = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_HTTP_HOST: '0.0.0.0', IM_HTTP_TOKEN: 't', IM_LOG_LEVEL: 'warn' });
  try {
    assert.not.ok(quiet.lines.some((l) => l.includes('without IM_HTTP_TOKEN')));
  } finally {
    await quiet.stop();
  }
});

test('IMR_ALLOW: a link from elsewhere is refused and counted; one from an allowed range is served', async () => {
  const closed = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', IMR_ALLOW: '10.9.9.9,192.168.0.0/16' });
  try {
    const l = await FakeLink.connect(closed.ready.port as number);
    await l.waitClosed();
    const metrics = (await httpJson(closed.ready.httpPort as number, '/metrics')).body as string;
    assert.match(metrics, /imr_links_refused_total 1/);
  } finally {
    await closed.stop();
  }
  const open = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', IMR_ALLOW: '127.0.0.0/8' });
  try {
    const l = await FakeLink.connect(open.ready.port as number);
    l.send(codecs.SUBSCRIBE, { appid: 1, uid: 7, online: 1 });
    await eventually(async () => (await httpJson(open.ready.httpPort as number, '/all_online')).body[0]?.users[0] === 7, 3000, 'served');
    l.close();
  } finally {
    await open.stop();
  }
});

test('IMR_LINK_MAX_SUBSCRIPTIONS: a link gets no more than that; the rest is refused and counted, the link stays', async () => {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', IMR_LINK_MAX_SUBSCRIPTIONS: '3' });
  try {
    const l = await FakeLink.connect(imr.ready.port as number);
    for (let uid = 1; uid <= 4; uid++) l.send(codecs.SUBSCRIBE, { appid: 1, uid, online: 1 });
    l.send(codecs.SUBSCRIBE_ROOM, { appid: 1, room_id: 9 });
    l.send(codecs.SUBSCRIBE, { appid: 1, uid: 2, online: 0 }); // a change to one it holds is fine
    const http = imr.ready.httpPort as number;
    await eventually(async () => /imr_subscriptions_refused_total 2/.test((await httpJson(http, '/metrics')).body), 3000, 'two refused');
    assert.equal((await httpJson(http, '/all_online')).body, [{ appid: 1, users: [1, 2, 3] }]);
    assert.not.ok(l.closed);
    l.close();
  } finally {
    await imr.stop();
  }
});

test('IMR_SECRET: links that open with LINK_AUTH carrying it are served (IM_ROUTE_SECRET), others are closed', async () => {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', IMR_SECRET: 'shared-s3cret' });
  const route = { IM_SHARDS: '1', IM_STORE: 'off', IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_LOG_LEVEL: 'fatal' };
  const a = await startIm({ ...route, IM_ROUTE_SECRET: 'shared-s3cret' });
  const b = await startIm({ ...route, IM_ROUTE_SECRET: 'shared-s3cret' });
  const stranger = await startIm(route);
  const http = imr.ready.httpPort as number;
  try {
    const z = await login(stranger, 1, 3); // its SUBSCRIBE is the first frame the router sees from it
    const wrong = await FakeLink.connect(imr.ready.port as number);
    wrong.send(codecs.LINK_AUTH, { secret: Buffer.from('guess') });
    await wrong.waitClosed();
    await eventually(async () => /imr_links_closed_total\{reason="unauthenticated"\} [2-9]/.test((await httpJson(http, '/metrics')).body), 5000, 'the stranger and the guess were closed');
    const x = await login(a, 1, 1);
    const y = await login(b, 1, 2);
    await eventually(async () => JSON.stringify((await httpJson(http, '/all_online')).body) === '[{"appid":1,"users":[1,2]}]', 5000, 'both linked servers subscribed');
    const got = y.next('im');
    await x.sendIM({ receiver: 2, content: 'through a guarded router' });
    assert.is((await got)[0].content.toString(), 'through a guarded router');
    x.destroy();
    y.destroy();
    z.destroy();
  } finally {
    await stranger.stop();
    await a.stop();
    await b.stop();
    await imr.stop();
  }
});

test('/all_online streams a large index, complete and sorted', async () => {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  try {
    const l = await FakeLink.connect(imr.ready.port as number);
    for (let uid = 25_000; uid > 0; uid--) l.send(codecs.SUBSCRIBE, { appid: 3, uid, online: 1 });
    l.send(codecs.SUBSCRIBE, { appid: 4, uid: 1, online: 1 });
    const http = imr.ready.httpPort as number;
    await eventually(async () => (await httpJson(http, '/all_online')).body.length === 2, 10_000, 'subscribed');
    const body = (await httpJson(http, '/all_online')).body as { appid: number; users: number[] }[];
    const big = body.find((a) => a.appid === 3)!;
    assert.is(big.users.length, 25_000);
    assert.ok(big.users.every((u, i) => u === i + 1), 'sorted');
    l.close();
  } finally {
    await imr.stop();
  }
});

test.run();
