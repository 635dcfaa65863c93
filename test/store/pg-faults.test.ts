import { test } from 'uvu';
import * as assert from 'uvu/assert';
import postgres from 'postgres';
import { startPostgres, type Postgres } from '../helpers/postgres.ts';
import { login, startIm, type Im } from '../helpers/im.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { StoreLoad } from '../helpers/store-load.ts';
import { loud } from '../helpers/loud.ts';
import { driverGuarded } from '../../src/store/pg-driver-fix.ts';

/*
 * The shared store under PostgreSQL faults, with peer IMs to an offline user at full rate:
 * after each fault saving resumes by itself, no acknowledged message is lost, none is
 * stored or acknowledged twice, and the store thread is the one it was (or, when it was
 * killed, its replacement).
 */
const APP = 31;
let pg: Postgres;
let im: Im;

test.before(loud(async () => {
  pg = await startPostgres();
  im = await startIm({
    IM_STORE: 'postgres', IM_STORE_URL: pg.url, IM_SHARDS: '2', IM_TEST_HOOKS: '1', IM_STORE_TIMEOUT_MS: '2000', IM_LOG_LEVEL: 'info',
  });
}));

test.after(loud(async () => {
  assert.is(await im?.stop(), 0);
  await pg?.stop();
}));

const storeLines = () => im.lines.filter((l) => /store worker exited|store restarted|store worker failed/.test(l));

async function underLoad(receiver: number, fault: () => Promise<void>): Promise<void> {
  const sender = await login(im, APP, 1, { ackTimeoutMs: 3000 });
  const load = new StoreLoad(sender, receiver);
  try {
    await load.more(200, 'saving before the fault');
    await fault();
    await load.more(200, 'saving resumed after the fault');
  } finally {
    await load.stop();
    sender.destroy();
  }
  const r = await login(im, APP, receiver);
  try {
    const { stored } = await load.verify(r);
    assert.ok(stored >= load.acked.size);
  } finally {
    r.destroy();
  }
}

test('the driver is guarded: a session ended in the middle of a transaction fails it, and the pool goes on', async () => {
  assert.ok(driverGuarded(), 'patches/postgres+3.4.9.patch was applied');
  const uncaught: Error[] = [];
  const onUncaught = (e: Error) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  // One connection: the query after the failure must reuse the one that was cut.
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  try {
    let pid: number | undefined;
    const outcome = sql.begin(async (t) => {
      pid = (await t`SELECT pg_backend_pid() AS pid`)[0]!.pid as number;
      await t`SELECT pg_sleep(5)`;
    }).then(() => 'committed', (e: { code?: string }) => e.code);
    await eventually(() => pid !== undefined, 5000, 'the transaction began');
    await pg.terminateSessions();
    assert.is(await outcome, 'CONNECTION_CLOSED');
    // The transaction's own ROLLBACK went to a connection with no socket: before the guard it
    // threw from an Immediate (uncaught), and the pool put the connection where it is never
    // used again: with one connection, no query was ever answered after that.
    await eventually(async () => {
      const r = await Promise.race([sql`SELECT 1 AS one`.then((x) => x[0]!.one, () => 'failed'), new Promise((res) => setTimeout(() => res('hung'), 2000))]);
      return r === 1;
    }, 10_000, 'the pool answers again');
    await new Promise((r) => setImmediate(r));
    assert.equal(uncaught.map((e) => e.message), []);
  } finally {
    process.off('uncaughtException', onUncaught);
    await sql.end({ timeout: 1 });
  }
});

test('PostgreSQL restarted under load (fast shutdown): saves resume, nothing acknowledged is lost, nothing twice', async () => {
  await underLoad(2, () => pg.restart());
  assert.equal(storeLines(), [], 'the store thread did not die');
});

test('every session ended from PostgreSQL\'s side under load: the same', async () => {
  await underLoad(3, async () => {
    assert.ok(await pg.terminateSessions() > 0);
  });
  assert.equal(storeLines(), [], 'the store thread did not die');
});

test('the store thread killed under load: replaced, saves resume, the same', async () => {
  await underLoad(4, async () => {
    assert.is((await httpJson(im.httpPort, '/debug/crash_store', { method: 'POST' })).status, 200);
    await eventually(() => im.lines.some((l) => l.includes('store restarted')), 10_000, 'the store thread replaced');
  });
  const metrics = (await httpJson(im.httpPort, '/metrics')).body as string;
  assert.match(metrics, /im_store_restarts_total\{engine="postgres"\} 1/);
  await eventually(async () => (await httpJson(im.httpPort, '/healthz')).body.ok === true, 10_000, 'healthy again');
});

test('a store call that never returns (PostgreSQL hung): the store thread replaces itself, and saving resumes once PostgreSQL does', async () => {
  // A short store deadline makes the watchdog's limit 5 s (ten deadlines, at least 5 s).
  const im2 = await startIm({ IM_STORE: 'postgres', IM_STORE_URL: pg.url, IM_SHARDS: '1', IM_STORE_TIMEOUT_MS: '500', IM_LOG_LEVEL: 'info' });
  const a = await login(im2, APP, 11, { ackTimeoutMs: 2000 });
  try {
    assert.is((await a.sendIM({ receiver: 12, content: 'before' })).status, 0);
    pg.pause();
    try {
      await a.sendIM({ receiver: 12, content: 'while hung' }).then(() => assert.unreachable('acknowledged while PostgreSQL hangs'), () => {});
      await eventually(() => im2.lines.some((l) => l.includes('has not answered a call for')), 15_000, 'the watchdog fired');
      await eventually(() => im2.lines.some((l) => l.includes('store restarted')), 10_000, 'the store thread replaced');
    } finally {
      pg.resume();
    }
    await eventually(async () => (await a.sendIM({ receiver: 12, content: 'after' }).then((x) => x.status, () => -1)) === 0, 15_000, 'saving resumed');
  } finally {
    a.destroy();
    assert.is(await im2.stop(), 0);
  }
});

test.run();
