import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/process.ts';

/*
 * Docker, pm2 and a plain `kill` stop a service by signalling the process they started:
 * for `npm start`, `npm run imr` and `npm run cluster` that is npm. A SIGTERM to npm must
 * stop everything under it gracefully, exit 0, and leave no process behind.
 */
const root = new URL('../../', import.meta.url).pathname;

/** Every process below `pid` (threads are not processes: /proc's children lists). */
function descendants(pid: number): number[] {
  let out: string;
  try {
    out = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString();
  } catch {
    return [];
  }
  const kids = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number) as [number, number];
    kids.set(pp, [...(kids.get(pp) ?? []), p]);
  }
  const all: number[] = [];
  const walk = (p: number) => { for (const k of kids.get(p) ?? []) { all.push(k); walk(k); } };
  walk(pid);
  return all;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function stopsCleanly(script: string, env: Record<string, string>, ready: RegExp, parts: number): Promise<void> {
  const npm = spawn('npm', ['run', '-s', script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout.on('data', (d) => { out += d; });
  npm.stderr.on('data', (d) => { out += d; });
  const exited = once(npm, 'exit');
  let below: number[] = [];
  try {
    await eventually(() => ready.test(out) || npm.exitCode !== null, 30_000, `${script} ready`);
    assert.ok(npm.exitCode === null, `${script} is running:\n${out}`);
    below = descendants(npm.pid!);
    assert.ok(below.length >= parts, `${script}: ${below.length} processes below npm`);
    npm.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.equal([code, signal], [0, null], `${script}: npm's exit\n${out}`);
    await eventually(() => below.every((p) => !alive(p)), 10_000, `${script}: nothing left behind`);
  } finally {
    if (npm.exitCode === null) npm.kill('SIGKILL');
    // An orphan is no longer below npm: kill what was.
    for (const p of [...below, ...descendants(npm.pid!)]) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    npm.stdout.destroy();
    npm.stderr.destroy();
  }
}

test('SIGTERM to `npm start` stops the access server: exit 0, no orphan', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-npm-'));
  await stopsCleanly('start', {
    IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_SHARDS: '1', IM_LOG_FORMAT: 'json',
    IM_STORE_DB: join(dir, 'messages.db'), IM_GROUP_DB: join(dir, 'groups.db'), IM_JWT_SECRET_FILE: join(dir, 'jwt-secret'),
  }, /"msg":"ready"/, 1);
});

test('SIGTERM to `npm run imr` stops the router: exit 0, no orphan', async () => {
  await stopsCleanly('imr', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_FORMAT: 'json' }, /"msg":"ready"/, 1);
});

test('SIGTERM to `npm run cluster` stops its router and both servers: exit 0, no orphan', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-npm-'));
  // A base port out of the ephemeral range's usual start, different on each run.
  const base = 20_000 + 30 * Math.floor(Math.random() * 300);
  await stopsCleanly('cluster', { CLUSTER_BASE_PORT: String(base), IM_JWT_SECRET_FILE: join(dir, 'jwt-secret') }, /cluster up/, 4);
});

test.run();
