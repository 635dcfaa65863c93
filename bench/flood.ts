/**
 * `npm run bench:flood`: what a flood costs the server and its neighbours. A 2-shard server;
 * two receivers that authenticate and then never read, each with a 4 KiB socket receive
 * buffer: uid 500 over TCP, uid 501 over WebSocket (bench/fixtures/stalled-receivers.py);
 * two senders on TCP, 600 → 501 and 601 → 500, writing 256 KiB buffers of 1 KiB RT frames as
 * fast as their sockets take them (bench/fixtures/flood-worker.ts), in rounds: the first
 * FLOOD_FIRST frames each, then FLOOD_FRAMES each or FLOOD_S seconds, whichever comes first;
 * a round lasts at least FLOOD_S. Throughout, a control pair (700, 701) exchanges an RT every
 * 50 ms: its losses and latency are reported per round, with the flood's bytes, the frames
 * the server dropped, and the server's peak RSS in the round over its RSS before the first.
 *
 * FLOOD_BEFORE=<git rev> runs that build too, from a worktree of its own, alternately with
 * this one (FLOOD_REPEAT times each): before and after in one run.
 * Env: FLOOD_SHARDS (2), FLOOD_ROUNDS (3), FLOOD_FIRST (50000), FLOOD_FRAMES (1000000),
 * FLOOD_S (5), FLOOD_REPEAT (1), FLOOD_ENV (extra server variables, "A=1 B=2").
 */
import { execFileSync, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as hdr from 'hdr-histogram-js';
import { signToken } from '../src/auth/jwt.ts';
import { codecs, encodeFrame } from '../src/protocol/index.ts';
import { builtEntry, httpJson, startProcess, type Started } from '../test/helpers/process.ts';
import { APPID, SECRET, client } from './peer-load.ts';
import { memoryKiB } from './proc.ts';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const SHARDS = env('FLOOD_SHARDS', 2);
const ROUNDS = env('FLOOD_ROUNDS', 3);
const FIRST = env('FLOOD_FIRST', 50_000);
const FRAMES = env('FLOOD_FRAMES', 1_000_000);
const MIN_S = env('FLOOD_S', 5);
const REPEAT = env('FLOOD_REPEAT', 1);
const EXTRA = Object.fromEntries((process.env.FLOOD_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]));
const root = new URL('../', import.meta.url).pathname;
const WORKER = join(root, 'bench/fixtures/flood-worker.ts');
const RECEIVERS = join(root, 'bench/fixtures/stalled-receivers.py');

/** A build to run: this tree, or a worktree of FLOOD_BEFORE made for this run. */
function builds(): { name: string; entry: string; cleanup(): void }[] {
  const here = { name: `this (${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'src').length > 0 ? '+' : ''})`, entry: builtEntry('src/server/main.ts'), cleanup() {} };
  const rev = process.env.FLOOD_BEFORE;
  if (rev === undefined) return [here];
  const dir = mkdtempSync(join(tmpdir(), 'flood-before-'));
  git('worktree', 'add', '--detach', dir, rev);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/build.ts', '--quiet'], { cwd: dir, stdio: 'inherit' });
  const before = {
    name: `before (${git('rev-parse', '--short', rev)})`, entry: join(dir, 'build/src/server/main.js'),
    cleanup() {
      git('worktree', 'remove', '--force', dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return [before, here];
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
}

async function authHex(uid: number): Promise<string> {
  return encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await signToken(SECRET, APPID, uid), device_id: `stalled-${uid}` }, 1, 2).toString('hex');
}

/** The two receivers that never read; resolves once both are authenticated. Kill to close them. */
async function stalledReceivers(ports: { tcp: number; ws: number }): Promise<() => void> {
  const p = spawn('python3', [RECEIVERS, '127.0.0.1', String(ports.tcp), String(ports.ws), await authHex(500), await authHex(501)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: p.stdout! });
  const [line] = await Promise.race([once(lines, 'line'), once(p, 'exit').then(([code]) => { throw new Error(`stalled receivers exited with ${code}`); })]);
  if (line !== 'ready') throw new Error(`stalled receivers: ${line}`);
  return () => p.stdin!.end();
}

function flood(port: number, frames: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => execFile(process.execPath, [WORKER, String(port), String(frames), String(seconds)], { timeout: (seconds + 60) * 1000 },
    (err, stdout) => (err ? reject(err) : resolve(Number(stdout)))));
}

/** Starts a new peak for VmHWM (Linux: 5 in clear_refs); false where that is not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function dropped(httpPort: number): Promise<number> {
  const { body } = await httpJson(httpPort, '/metrics');
  let n = 0;
  for (const m of String(body).matchAll(/^im_dropped_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

interface Round { bytes: number; dropped: number; lost: number; sent: number; p50: number; p99: number; max: number; peakMiB: number }

async function run(entry: string): Promise<{ beforeMiB: number; rounds: Round[] }> {
  const im: Started = await startProcess(entry, {
    IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_SHARDS: String(SHARDS), IM_STORE: 'off',
    IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn', ...EXTRA,
  });
  const pid = im.proc.pid!;
  const port = im.ready.tcp as number;
  const httpPort = im.ready.http as number;
  // Connected in this order, the least-loaded placement puts 500, 700 and 600 on one shard
  // and 501, 701 and 601 on the other: every flood and the control pair cross shards.
  const closeReceivers = await stalledReceivers({ tcp: port, ws: im.ready.ws as number });
  const [a, b] = [await client(port, 700), await client(port, 701)];
  const beforeMiB = memoryKiB(pid).rss / 1024;
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
    let got = 0;
    const arrived = (m: { content: Buffer }) => {
      got++;
      h.recordValue(Math.max(1, Math.round((performance.now() - Number(m.content.toString())) * 1000)));
    };
    a.on('rt', arrived);
    b.on('rt', arrived);
    let sent = 0;
    const tick = setInterval(() => {
      sent += 2;
      a.sendRT({ receiver: 701, content: String(performance.now()) });
      b.sendRT({ receiver: 700, content: String(performance.now()) });
    }, 50);
    const sampled = !resetPeak(pid);
    let peak = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, memoryKiB(pid).rss); }, 20);
    const dropsBefore = await dropped(httpPort);
    const t0 = performance.now();
    const bytes = await flood(port, r === 0 ? FIRST : FRAMES, r === 0 ? 600 : MIN_S);
    const rest = MIN_S * 1000 - (performance.now() - t0);
    if (rest > 0) await new Promise((res) => setTimeout(res, rest));
    clearInterval(tick);
    clearInterval(sampler);
    // The last RTs cross shards: give them a moment past a round trip of each client.
    await a.ping();
    await b.ping();
    for (let i = 0; i < 100 && got < sent; i++) await new Promise((res) => setTimeout(res, 20));
    a.off('rt', arrived);
    b.off('rt', arrived);
    if (!sampled) peak = memoryKiB(pid).peak;
    rounds.push({
      bytes, dropped: (await dropped(httpPort)) - dropsBefore, lost: sent - got, sent,
      p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000, max: h.maxValue / 1000, peakMiB: peak / 1024,
    });
  }
  a.destroy();
  b.destroy();
  closeReceivers();
  await im.stop();
  return { beforeMiB, rounds };
}

console.log(`flood: ${SHARDS} shards; receivers 500 (TCP) and 501 (WebSocket) never read, SO_RCVBUF 4096; senders 600 → 501, 601 → 500 in 256 KiB writes of 1 KiB RTs; `
  + `round 1 ${FIRST} frames each, then ${FRAMES} each or ${MIN_S} s; control pair 700 ↔ 701 an RT every 50 ms each way${Object.keys(EXTRA).length > 0 ? `; ${process.env.FLOOD_ENV}` : ''}`);
console.log('| build | round | flood MiB | dropped | control lost / sent | p50 ms | p99 ms | max ms | RSS before MiB | peak MiB | peak growth MiB |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
const list = builds();
try {
  for (let i = 0; i < REPEAT; i++) {
    for (const b of list) {
      const x = await run(b.entry);
      x.rounds.forEach((r, j) => console.log(`| ${b.name} | ${j + 1} | ${(r.bytes / 1048576).toFixed(0)} | ${r.dropped} | ${r.lost} / ${r.sent} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | `
        + `${r.max.toFixed(1)} | ${x.beforeMiB.toFixed(0)} | ${r.peakMiB.toFixed(0)} | ${(r.peakMiB - x.beforeMiB).toFixed(0)} |`));
    }
  }
} finally {
  for (const b of list) b.cleanup();
}
