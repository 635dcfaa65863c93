import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImClient } from '../../src/client/index.ts';
import { signToken } from '../../src/auth/jwt.ts';
import { builtEntry, eventually } from '../helpers/process.ts';

const SECRET = 'cluster-script-test-secret-of-32-bytes!';

/**
 * Runs `npm run cluster` (as built) on a random base port with `env` until it says it is up,
 * gives `use` the base port, a way to log users in and what it printed, then stops it with
 * SIGTERM and checks it exits 0.
 */
async function withCluster(env: Record<string, string>, use: (base: number, on: (port: number, uid: number) => Promise<ImClient>, out: () => string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'im-cluster-'));
  const base = 20_000 + 30 * Math.floor(Math.random() * 300);
  const proc = spawn(process.execPath, [builtEntry('src/cluster.ts')], {
    env: { ...process.env, ...env, CLUSTER_BASE_PORT: String(base), IM_JWT_SECRET: SECRET, IM_STORE_DB: join(dir, 'messages.db'), IM_GROUP_DB: join(dir, 'groups.db') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const clients: ImClient[] = [];
  const on = async (port: number, uid: number) => {
    const c = await ImClient.connect({ port, uid });
    clients.push(c);
    assert.is(await c.auth({ token: await signToken(SECRET, 7, uid), deviceId: `d${uid}` }), 0);
    return c;
  };
  try {
    await eventually(() => out.includes('cluster up') || proc.exitCode !== null, 30_000, 'cluster up');
    await use(base, on, () => out);
  } finally {
    for (const c of clients) c.destroy();
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    }
    assert.is(proc.exitCode, 0, out);
  }
}

/*
 * `npm run cluster` on one machine with no other service: a message to a user who is
 * offline, sent on one server, is synced by that user from the other. Its two servers share
 * one SQLite file.
 */
test('the cluster script: an IM to an offline user on server A is synced from server B', async () => {
  await withCluster({}, async (base, on, out) => {
    assert.match(out(), /messages\.db, shared by both servers/);
    const a = await on(base + 10, 1);
    const ack = await a.sendIM({ receiver: 2, content: 'while you were away' });
    assert.is(ack.status, 0);
    const b = await on(base + 20, 2);
    const r = await b.sync(0);
    assert.equal(r.messages.map((m) => (m.body as { content: Buffer }).content.toString()), ['while you were away']);
  });
});

test('the cluster script on NATS: a three-node NATS cluster, and a message live from server A to server B', async () => {
  await withCluster({ CLUSTER_BACKPLANE: 'nats' }, async (base, on, out) => {
    assert.match(out(), new RegExp(`NATS +nats://127\\.0\\.0\\.1:${base + 2},`));
    const a = await on(base + 10, 1);
    const b = await on(base + 20, 2);
    let got = false;
    b.on('rt', () => { got = true; });
    await eventually(() => {
      a.sendRT({ receiver: 2, content: 'across NATS' });
      return got;
    }, 15_000, 'an RT across NATS');
  });
});

test.run();
