import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

const root = new URL('../../', import.meta.url).pathname;

export interface Started {
  proc: ChildProcess;
  /** The fields of the process's `ready` log line (its real ports, among others). */
  ready: Record<string, unknown>;
  /** Every line the process wrote to stdout so far. */
  lines: string[];
  stderr: () => string;
  /** SIGTERM, then resolves with the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  kill(): Promise<void>;
}

let built = false;

/**
 * `src/x.ts` → `build/src/x.js`, what `npm start` and bin/ run, brought up to date once per
 * test process (a build that finds nothing newer writes nothing, so suites can run at once);
 * not again under test/run.ts, which builds before any suite starts (TEST_BUILT=1).
 */
export function builtEntry(entry: string): string {
  if (!entry.startsWith('src/')) return entry;
  if (!built && process.env.TEST_BUILT !== '1') {
    execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/build.ts', '--quiet'], { cwd: root, stdio: 'inherit' });
    built = true;
  }
  return `build/${entry.replace(/\.ts$/, '.js')}`;
}

/** Starts a project entry point (e.g. src/router/main.ts, run from build/) and waits for its `ready` line. */
export async function startProcess(entry: string, env: Record<string, string>, timeoutMs = 15_000, args: string[] = []): Promise<Started> {
  const proc = spawn(process.execPath, [builtEntry(entry), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  let resolveReady: (r: Record<string, unknown>) => void;
  const readyP = new Promise<Record<string, unknown>>((r) => { resolveReady = r; });
  let buf = '';
  proc.stdout!.on('data', (d) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      if (process.env.TEST_VERBOSE === '1') process.stdout.write(`[${entry}] ${line}\n`);
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        if (j.msg === 'ready') resolveReady(j);
      } catch { /* not JSON */ }
    }
  });
  const exited = once(proc, 'exit').then(([code]) => { throw new Error(`${entry} exited with ${code} before it was ready:\n${err}`); });
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${entry} not ready within ${timeoutMs} ms:\n${err}`)), timeoutMs).unref());
  const ready = await Promise.race([readyP, exited, timer]);
  exited.catch(() => {});
  const exit = once(proc, 'exit');
  return {
    proc, ready, lines, stderr: () => err,
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const [code] = await exit;
      clearTimeout(t);
      return code as number | null;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exit;
    },
  };
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

export async function httpJson(port: number, path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await r.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* plain text */ }
  return { status: r.status, body };
}

/**
 * Polls `check` until it returns true (or throws after `ms`). The wait is never under 10 s:
 * it ends as soon as the check holds, and on a busy machine a few seconds is no proof of a bug.
 */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  ms = Math.max(ms, 10_000);
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
