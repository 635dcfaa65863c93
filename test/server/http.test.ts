import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { Flag } from '../../src/protocol/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, record, startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 8;
const TOKEN = 'admin-secret';
let im: Im;
const clients: ImClient[] = [];
const on = async (uid: number) => {
  const c = await login(im, APP, uid);
  clients.push(c);
  return c;
};
const get = (path: string) => httpJson(im.httpPort, path, { headers: { authorization: `Bearer ${TOKEN}` } });
const post = (path: string, body: string | object, auth = true) => httpJson(im.httpPort, path, {
  method: 'POST',
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers: auth ? { authorization: `Bearer ${TOKEN}` } : {},
});

test.before(loud(async () => {
  // The relay's HTTP API (IM_STORE=off): posted messages are delivered as they are; with the store, see test/store.
  im = await startIm({ IM_STORE: 'off', IM_SHARDS: '2', IM_HTTP_TOKEN: TOKEN });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im?.stop();
}));

test('admin token: every endpoint but /healthz needs it as a header; only the dashboard and its stream take ?token=', async () => {
  const r = await post(`/post_peer_message?appid=${APP}&sender=1&receiver=2`, 'x', false);
  assert.is(r.status, 401);
  assert.is(r.body.meta.code, 401);
  const wrong = await httpJson(im.httpPort, `/post_peer_message?appid=${APP}&sender=1&receiver=2`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer nope' } });
  assert.is(wrong.status, 401);
  for (const path of ['/summary', '/subscriptions', '/metrics', '/', `/load_latest_message?appid=${APP}&uid=1&limit=1`]) {
    assert.is((await httpJson(im.httpPort, path)).status, 401, `${path} without the token`);
  }
  assert.is((await get('/summary')).status, 200);
  // In a URL the token lands in proxies' and servers' access logs: only a browser's GET of
  // the dashboard or its event stream, which cannot set a header, may carry it there.
  for (const path of [`/summary?token=${TOKEN}`, `/load_latest_message?appid=${APP}&uid=1&limit=1&token=${TOKEN}`]) {
    const r = await httpJson(im.httpPort, path);
    assert.is(r.status, 401, path);
    assert.match(r.body.meta.message, /a token in the URL is taken only by the dashboard/);
  }
  const posted = await httpJson(im.httpPort, `/post_peer_message?appid=${APP}&sender=1&receiver=2&token=${TOKEN}`, { method: 'POST', body: 'x' });
  assert.is(posted.status, 401, 'a mutating endpoint refuses the query token');
  assert.is((await httpJson(im.httpPort, `/?token=${TOKEN}`)).status, 200);
  for (const port of [im.httpPort, im.dashboardPort]) {
    assert.is((await httpJson(port, `/?token=${TOKEN}`)).status, 200);
    assert.is((await httpJson(port, '/')).status, 401);
    const events = await fetch(`http://127.0.0.1:${port}/events?token=${TOKEN}`);
    assert.is(events.status, 200);
    await events.body?.cancel();
  }
  assert.is((await httpJson(im.dashboardPort, `/summary?token=${TOKEN}`)).status, 404, 'the dashboard port serves the dashboard alone');
  assert.is((await httpJson(im.httpPort, '/healthz')).status, 200, 'health checks need no token');
});

test('post_peer_message: receiver gets IM with FLAG_PUSH, the sender\'s devices a SELF copy', async () => {
  const [alice, bob] = [await on(1), await on(2)];
  const gotBob = bob.next('im');
  const gotAlice = alice.next('im');
  const r = await post(`/post_peer_message?appid=${APP}&sender=1&receiver=2`, 'hello from http');
  assert.is(r.status, 200, JSON.stringify(r.body));
  const [m, f] = await gotBob;
  assert.equal([m.sender, m.receiver, m.content.toString()], [1, 2, 'hello from http']);
  assert.ok(f.flag & Flag.PUSH);
  assert.ok((await gotAlice)[1].flag & Flag.SELF);
});

test('post_realtime, post_room, post_notification, post_system, post_customer, post_group_notification', async () => {
  const [u3, u4] = [await on(3), await on(4)];
  u4.enterRoom(77);
  await u4.ping();
  const rt = u4.next('rt');
  assert.is((await post(`/post_realtime_message?appid=${APP}&sender=3&receiver=4`, 'rt!')).status, 200);
  assert.is((await rt)[0].content.toString(), 'rt!');
  const room = u4.next('room_im');
  assert.is((await post(`/post_room_message?appid=${APP}&uid=3&room=77`, 'to the room')).status, 200);
  assert.equal([(await room)[0].sender, (await room)[0].content.toString()], [3, 'to the room']);
  const note = u3.next('notification');
  assert.is((await post(`/post_notification?appid=${APP}&uid=3`, '{"n":1}')).status, 200);
  assert.is((await note)[0].content.toString(), '{"n":1}');
  const sys = [u3.next('system'), u4.next('system')];
  assert.is((await post('/post_system_message', { appid: APP, receivers: [3, 4], content: 'sys' })).status, 200);
  for (const s of await Promise.all(sys)) assert.is(s[0].content.toString(), 'sys');
  const cust = u4.next('customer');
  assert.is((await post('/post_customer_message', { sender_appid: 99, sender: 5, receiver_appid: APP, receiver: 4, content: 'cs' })).status, 200);
  const [cm] = await cust;
  assert.equal([cm.sender_appid, cm.sender, cm.receiver_appid, cm.receiver, cm.content.toString()], [99, 5, APP, 4, 'cs']);
  const gn = [u3.next('group_notification'), u4.next('group_notification')];
  assert.is((await post('/post_group_notification', { appid: APP, group_id: 5, notification: 'gn', members: [3, 4] })).status, 200);
  for (const g of await Promise.all(gn)) assert.is(g[0].content.toString(), 'gn');
  assert.is((await post('/post_group_notification', { appid: APP, group_id: 424242, notification: 'gn' })).status, 404, 'unknown group without members');
});

test('bad parameters get 400 with the meta shape; the server carries on', async () => {
  const cases: [string, string | object][] = [
    [`/post_peer_message?appid=${APP}&sender=x&receiver=2`, 'x'],
    [`/post_peer_message?appid=${APP}&receiver=2`, 'x'],
    [`/post_peer_message?appid=${APP}&sender=1&receiver=2`, ''],
    ['/post_system_message', '{"appid":'],
    ['/post_system_message', { appid: APP, receivers: 'all', content: 'x' }],
    ['/post_system_message', { appid: APP, receivers: [1], content: 5 }],
    ['/post_customer_message', { sender_appid: 1 }],
    [`/post_room_message?appid=${APP}&uid=1&room=99999999999999999999`, 'x'],
  ];
  for (const [path, body] of cases) {
    const r = await post(path, body);
    assert.is(r.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.is(typeof r.body.meta.message, 'string');
  }
  assert.is((await get(`/post_peer_message?appid=${APP}&sender=1&receiver=2`)).status, 405, 'GET on a POST endpoint');
  assert.is((await get('/summary')).status, 200);
});

test('/metrics parses as Prometheus text and moves with traffic', async () => {
  const parse = async () => {
    const text = (await get('/metrics')).body as string;
    const m = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+]+|NaN)$/.exec(line);
      assert.ok(match, `a valid sample line: ${line}`);
      m.set(match![1]!, Number(match![2]));
    }
    return m;
  };
  const before = await parse();
  const [a, b] = [await on(20), await on(21)];
  const got = record(b, 'im');
  for (let i = 0; i < 5; i++) await a.sendIM({ receiver: 21, content: `m${i}` });
  assert.is((await got.until(a)).length, 5);
  const inIm = (m: Map<string, number>) => m.get('im_frames_in_total{cmd="IM"}') ?? 0;
  const outIm = (m: Map<string, number>) => m.get('im_frames_out_total{cmd="IM"}') ?? 0;
  // The shards' counts reach /metrics with their next report.
  let after = await parse();
  await eventually(async () => {
    after = await parse();
    return inIm(after) - inIm(before) >= 5 && outIm(after) - outIm(before) >= 5;
  }, 10_000, 'the IM counts moved');
  assert.ok([...after.keys()].some((k) => k.startsWith('im_connections{shard="0",transport="tcp"}')));
  assert.ok((after.get('im_subscribers{kind="user"}') ?? 0) >= 2);
  assert.ok([...after.keys()].some((k) => k.startsWith('im_logins_total')));
  for (const thread of ['main', 'shard0', 'shard1']) assert.ok((after.get(`im_thread_memory_bytes{thread="${thread}",kind="heap"}`) ?? 0) > 0, `heap of ${thread}`);
  // /summary counts the drops /metrics counts, by the same reasons.
  const summary = (await get('/summary')).body;
  for (const [reason, n] of Object.entries(summary.dropped_count as Record<string, number>)) {
    assert.is(after.get(`im_dropped_total{reason="${reason}"}`) ?? 0, n, `dropped ${reason}`);
  }
  for (const path of ['/summary', '/metrics', '/subscriptions', '/healthz']) {
    assert.is((await post(path, '')).status, 405, `POST ${path}`);
  }
  const h = await httpJson(im.httpPort, '/healthz');
  assert.equal([h.status, h.body.ok, h.body.channel], [200, true, 'standalone']);
});

test.run();
