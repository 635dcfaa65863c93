/**
 * Control-plane calls have deadlines, and replacements run one at a time: two shards, or
 * every shard, killed at once under traffic are all replaced; /summary, /metrics and
 * /healthz keep answering meanwhile; SIGTERM still exits 0.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { codecs } from '../../src/protocol/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, startIm, type Im } from '../helpers/im.ts';

const APP = 9;

async function underTraffic(im: Im, kill: number[]): Promise<void> {
  const clients: ImClient[] = [];
  for (let uid = 1; uid <= 8; uid++) clients.push(await login(im, APP, uid));
  let sending = true;
  const load = (async () => {
    for (let i = 0; sending; i++) {
      const c = clients[i % clients.length]!;
      if (!c.closed) c.post(codecs.IM, { sender: c.uid!, receiver: 1 + ((i + 1) % 8), timestamp: 0, msgid: i, content: Buffer.from('load') });
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    const crashes = await Promise.all(kill.map((n) => httpJson(im.httpPort, `/debug/crash_shard?shard=${n}`, { method: 'POST' })));
    assert.ok(crashes.every((r) => r.status === 200));
    // The control plane answers while shards die and come back.
    for (const path of ['/summary', '/metrics', '/healthz']) {
      const r = await httpJson(im.httpPort, path);
      assert.ok(r.status === 200 || (path === '/healthz' && r.status === 503), `${path} answered ${r.status}`);
    }
    await eventually(async () => (await httpJson(im.httpPort, '/healthz')).status === 200, 15_000, 'every shard replaced')
      .catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify((await httpJson(im.httpPort, '/healthz')).body)}\n${im.lines.slice(-20).join('\n')}`);
      });
    const shards = (await httpJson(im.httpPort, '/summary')).body.shards as unknown[];
    assert.is(shards.length, 3, 'all three shards report');
    // New connections land on every shard, and messages flow between them.
    const fresh: ImClient[] = [];
    for (let i = 0; i < 6; i++) fresh.push(await login(im, APP, 100 + i));
    clients.push(...fresh);
    const got = fresh[5]!.next('im');
    await fresh[0]!.sendIM({ receiver: 105, content: 'after' });
    assert.is((await got)[0].content.toString(), 'after');
  } finally {
    sending = false;
    await load;
    for (const c of clients) c.destroy();
  }
}

for (const [name, kill] of [['two shards', [0, 2]], ['every shard', [0, 1, 2]]] as const) {
  test(`${name} killed at once under traffic: all replaced, the control plane answers, SIGTERM exits 0`, async () => {
    const im = await startIm({ IM_SHARDS: '3', IM_TEST_HOOKS: '1', IM_STORE: 'off', IM_LOG_LEVEL: 'warn', IM_CONTROL_TIMEOUT_MS: '2000' });
    try {
      await underTraffic(im, [...kill]);
    } finally {
      assert.is(await im.stop(15_000), 0);
    }
  });
}

test.run();
