import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImClient } from '../../src/client/index.ts';
import { signToken } from '../../src/auth/jwt.ts';
import { builtEntry, eventually } from '../helpers/process.ts';
import { startIm } from '../helpers/im.ts';

const run = promisify(execFile);

const SECRET = 'cluster-script-test-secret-of-32-bytes!';

const randomBase = () => 20_000 + 30 * Math.floor(Math.random() * 300);

/**
 * Runs `npm run cluster` (as built) on a random base port with `env` until it says it is up,
 * gives `use` the base port, a way to log users in and what it printed, then stops it with
 * SIGTERM and checks it exits 0.
 */
async function withCluster(env: Record<string, string | undefined>, use: (base: number, on: (port: number, uid: number) => Promise<ImClient>, out: () => string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'im-cluster-'));
  const base = randomBase();
  const full: Record<string, string | undefined> = { ...process.env, CLUSTER_BASE_PORT: String(base), IM_JWT_SECRET: SECRET, IM_STORE_DB: join(dir, 'messages.db'), IM_GROUP_DB: join(dir, 'groups.db'), ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k]; // unset, as a user who never set it
  const proc = spawn(process.execPath, [builtEntry('src/cluster.ts')], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
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

/*
 * With no IM_JWT_SECRET, the cluster's servers use the secret `npm start` keeps, so that
 * `npm run token` (the quick start's way to a token) prints one they accept.
 */
test('the cluster script uses the kept JWT secret: a token from npm run token logs in', async () => {
  const secretFile = join(mkdtempSync(join(tmpdir(), 'im-secret-')), 'jwt-secret');
  await withCluster({ IM_JWT_SECRET: undefined, IM_JWT_SECRET_FILE: secretFile }, async (base, _on, out) => {
    const { stdout } = await run(process.execPath, ['src/server/token.ts', '7', '3'], { env: { ...process.env, IM_JWT_SECRET: '', IM_JWT_SECRET_FILE: secretFile } });
    const c = await ImClient.connect({ port: base + 20, uid: 3 });
    try {
      assert.is(await c.auth({ token: stdout.trim(), deviceId: 'd3' }), 0);
    } finally {
      c.destroy();
    }
    assert.match(out(), /npm run -s token/);
  });
});

/*
 * Started beside a running server (its store file held, one of the cluster's ports taken):
 * it says each problem in one line, starts nothing, and exits 2.
 */
test('the cluster script beside a running server: one line for the taken port, one for the held store, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-cluster-'));
  const storeDb = join(dir, 'messages.db');
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'sqlite', IM_STORE_DB: storeDb });
  const base = randomBase();
  const squatter = net.createServer().listen(base + 10, '127.0.0.1');
  await once(squatter, 'listening');
  try {
    const r = await run(process.execPath, [builtEntry('src/cluster.ts')], {
      env: { ...process.env, CLUSTER_BASE_PORT: String(base), IM_JWT_SECRET: SECRET, IM_STORE_DB: storeDb, IM_GROUP_DB: join(dir, 'groups.db') },
    }).catch((err: { code: number; stdout: string; stderr: string }) => err);
    assert.is((r as { code?: number }).code, 2);
    const lines = `${r.stdout}${r.stderr}`.trim().split('\n');
    assert.is(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(`^cluster: port ${base + 10} \\(server A TCP\\) is in use .*CLUSTER_BASE_PORT`));
    assert.match(lines[1]!, /^cluster: the message store .*messages\.db is held by another access server .*IM_STORE_DB/);
  } finally {
    squatter.close();
    assert.is(await im.stop(), 0);
  }
});

test.run();
