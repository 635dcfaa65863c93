import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startPostgres, type Postgres } from '../helpers/postgres.ts';
import { login, startIm, type Im } from '../helpers/im.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { loud } from '../helpers/loud.ts';
import type { ImClient } from '../../src/client/index.ts';

/*
 * A database that hangs (every PostgreSQL process stopped: connections open, nothing
 * answered) while clients sit on a two-shard server and an HTTP post waits for the store:
 * the post is answered 503, no shard is taken for hung, no client loses its connection, and
 * saving resumes as soon as the database does. The deadlines are equal on purpose: a post
 * judged by the control deadline would lose the race to the store's own.
 */
const APP = 41;
let pg: Postgres;
let im: Im;

test.before(loud(async () => {
  pg = await startPostgres();
  im = await startIm({
    IM_STORE: 'postgres', IM_STORE_URL: pg.url, IM_SHARDS: '2', IM_TEST_HOOKS: '1',
    IM_STORE_TIMEOUT_MS: '1500', IM_CONTROL_TIMEOUT_MS: '1500', IM_LOG_LEVEL: 'info',
  });
}));

test.after(loud(async () => {
  assert.is(await im?.stop(), 0);
  await pg?.stop();
}));

const post = (receiver: number, text: string) => httpJson(im.httpPort, `/post_peer_message?appid=${APP}&sender=1&receiver=${receiver}`, { method: 'POST', body: text });
const replaced = () => im.lines.filter((l) => /replacing it|shard worker exited|shard restarted/.test(l));

test('PostgreSQL hung: a post is answered 503, no shard is replaced, no client disconnected; saving resumes with the database', async () => {
  const clients: ImClient[] = [];
  for (let uid = 100; uid < 108; uid++) clients.push(await login(im, APP, uid, { ackTimeoutMs: 10_000 }));
  let closed = 0;
  for (const c of clients) c.on('close', () => closed++);
  try {
    assert.is((await post(100, 'before')).status, 200);
    pg.pause();
    try {
      // Two posts, so that each shard (taken in turn) has one waiting on the store.
      const [a, b] = await Promise.all([post(100, 'while hung'), post(101, 'while hung')]);
      assert.is(a.status, 503, JSON.stringify(a.body));
      assert.is(b.status, 503);
      assert.match(a.body.meta.message, /store/);
      // The control plane still answers while the store does not.
      assert.is((await httpJson(im.httpPort, '/metrics')).status, 200);
      for (const c of clients) await c.ping();
    } finally {
      pg.resume();
    }
    await eventually(async () => (await post(102, 'after')).status === 200, 10_000, 'posts saved again');
    const ack = await clients[0]!.sendIM({ receiver: 103, content: 'after' });
    assert.is(ack.status, 0);
    for (const c of clients) await c.ping();
    assert.is(closed, 0, 'no client lost its connection');
    assert.equal(replaced(), [], 'no shard was replaced');
  } finally {
    for (const c of clients) c.destroy();
  }
});

test('a shard that is really hung is still found out (it answers no ping) and replaced', async () => {
  const c = await login(im, APP, 200);
  try {
    assert.is((await httpJson(im.httpPort, '/debug/hang_shard?shard=0&ms=30000', { method: 'POST' })).status, 200);
    // Any control call finds it: /metrics asks every shard for its report.
    await httpJson(im.httpPort, '/metrics');
    await eventually(() => im.lines.some((l) => l.includes('shard answers no ping: replacing it')), 15_000, 'the hung shard found');
    await eventually(() => im.lines.some((l) => l.includes('shard restarted')), 15_000, 'the hung shard replaced');
    const fresh = await login(im, APP, 201);
    fresh.destroy();
  } finally {
    c.destroy();
  }
});

test.run();
