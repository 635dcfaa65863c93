import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import type { ImClient } from '../../src/client/index.ts';
import { FrameDecoder, ROUTER_CMDS } from '../../src/protocol/index.ts';
import { eventually, httpJson, startProcess } from '../helpers/process.ts';
import { login, record, startIm } from '../helpers/im.ts';

const APP = 6;

test('a killed shard: others keep serving, its users go offline in the table and at the router, a new shard takes connections', async () => {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  const im = await startIm({ IM_SHARDS: '3', IM_TEST_HOOKS: '1', IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_LOG_LEVEL: 'fatal' });
  const clients: ImClient[] = [];
  try {
    for (let uid = 1; uid <= 6; uid++) clients.push(await login(im, APP, uid));
    clients[0]!.enterRoom(50);
    await clients[0]!.ping();
    const routerUsers = async () => ((await httpJson(imr.ready.httpPort as number, '/all_online')).body[0]?.users ?? []) as number[];
    await eventually(async () => (await routerUsers()).length === 6, 3000, 'router sees 6 users');
    const before = (await httpJson(im.httpPort, '/summary')).body.shards as { shard: number; clients: number }[];
    assert.ok(before[1]!.clients > 0);
    // Which uids lived on shard 1: those whose connection closes when it dies.
    assert.is((await httpJson(im.httpPort, '/debug/crash_shard?shard=1', { method: 'POST' })).status, 200);
    await eventually(() => clients.filter((c) => c.closed).length >= before[1]!.clients, 5000, 'the killed shard\'s connections closed');
    // The others prove alive with a round trip: none of them was closed meanwhile.
    await Promise.all(clients.filter((c) => !c.closed).map((c) => c.ping()));
    const dead = clients.filter((c) => c.closed).map((c) => c.uid!);
    const alive = clients.filter((c) => !c.closed);
    assert.is(dead.length, before[1]!.clients, 'exactly the killed shard\'s connections closed');
    await eventually(async () => {
      const subs = (await httpJson(im.httpPort, '/subscriptions')).body as { users: [number, boolean][] }[];
      const users = subs[0]?.users.map((u) => u[0]) ?? [];
      return dead.every((uid) => !users.includes(uid)) && users.length === alive.length;
    }, 3000, 'the dead shard\'s users left the table');
    await eventually(async () => {
      const users = await routerUsers();
      return dead.every((uid) => !users.includes(uid)) && users.length === alive.length;
    }, 3000, 'and the router');
    // Others keep serving, across the surviving shards.
    const [x, y] = [alive[0]!, alive[alive.length - 1]!];
    const got = y.next('im');
    await x.sendIM({ receiver: y.uid!, content: 'still here' });
    assert.is((await got)[0].content.toString(), 'still here');
    // The restarted shard takes new connections, and they route.
    await eventually(async () => (await httpJson(im.httpPort, '/healthz')).body.ok === true, 5000, 'healthy again');
    const fresh: ImClient[] = [];
    for (let i = 0; i < 6; i++) fresh.push(await login(im, APP, 100 + i));
    clients.push(...fresh);
    const after = (await httpJson(im.httpPort, '/summary')).body.shards as { shard: number; clients: number }[];
    assert.ok(after[1]!.clients > 0, 'the new shard 1 holds connections');
    const all = fresh.map((c) => record(c, 'im'));
    for (const c of fresh) await x.sendIM({ receiver: c.uid!, content: 'welcome' });
    for (const r of all) assert.is((await r.until(x)).length, 1);
  } finally {
    for (const c of clients) c.destroy();
    assert.is(await im.stop(), 0);
    await imr.stop();
  }
});

test('a killed Channel thread is replaced; it re-subscribes from the table and cross-server delivery goes on', async () => {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  const route = { IM_SHARDS: '2', IM_TEST_HOOKS: '1', IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`, IM_LOG_LEVEL: 'fatal' };
  const [a, b] = [await startIm(route), await startIm(route)];
  const clients: ImClient[] = [];
  try {
    for (let uid = 1; uid <= 4; uid++) clients.push(await login(a, APP, uid));
    const remote = await login(b, APP, 99);
    clients.push(remote);
    const view = async () => ((await httpJson(imr.ready.httpPort as number, '/all_online')).body[0]?.users ?? []) as number[];
    await eventually(async () => (await view()).length === 5, 3000, 'router sees both servers');
    assert.is((await httpJson(a.httpPort, '/debug/crash_channel', { method: 'POST' })).status, 200);
    await eventually(async () => (await view()).length === 1, 3000, 'server A\'s link closed with its thread');
    await eventually(async () => (await view()).length === 5, 5000, 'the new Channel re-subscribed server A\'s users');
    const got = clients[2]!.next('im');
    await remote.sendIM({ receiver: 3, content: 'after the channel restart' });
    assert.is((await got)[0].content.toString(), 'after the channel restart');
    const back = remote.next('im');
    await clients[0]!.sendIM({ receiver: 99, content: 'and back' });
    assert.is((await back)[0].content.toString(), 'and back');
  } finally {
    for (const c of clients) c.destroy();
    assert.is(await a.stop(), 0);
    await b.stop();
    await imr.stop();
  }
});

test('SIGTERM under load: exit 0, connections closed, the router link ends on a frame boundary', async () => {
  let bytes = 0;
  let broken: string | undefined;
  let ended = false;
  const fake = net.createServer((s) => {
    const d = new FrameDecoder({ accept: ROUTER_CMDS });
    s.on('data', (c: Buffer) => {
      bytes += c.length;
      const err = d.push(c, () => {});
      if (err) broken = err.message;
    });
    s.on('end', () => { ended = true; if (d.buffered !== 0) broken = `${d.buffered} bytes of a partial frame`; });
    s.on('error', () => {});
  });
  fake.listen(0, '127.0.0.1');
  await once(fake, 'listening');
  const im = await startIm({ IM_SHARDS: '2', IM_ROUTE_ADDRS: `127.0.0.1:${(fake.address() as net.AddressInfo).port}`, IM_LOG_LEVEL: 'fatal' });
  const clients: ImClient[] = [];
  for (let uid = 1; uid <= 20; uid++) clients.push(await login(im, APP, uid));
  let sending = true;
  let i = 0;
  const load = (async () => {
    while (sending) {
      const c = clients[i % 20]!;
      if (!c.closed) c.post((await import('../../src/protocol/index.ts')).codecs.IM, { sender: c.uid!, receiver: 1000 + i, timestamp: 0, msgid: i, content: Buffer.alloc(200, 1) });
      if (++i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  // The stop must come while traffic flows: once a good amount of it has been sent.
  await eventually(() => i > 2000, 10_000, 'traffic flowing');
  const closes = clients.map((c) => c.next('close', 10_000));
  const code = await im.stop();
  sending = false;
  await load.catch(() => {});
  assert.is(code, 0);
  await Promise.all(closes);
  await eventually(() => ended, 3000, 'the router link was closed cleanly');
  assert.is(broken, undefined);
  assert.ok(bytes > 10_000, 'traffic reached the router');
  fake.close();
});

test.run();
