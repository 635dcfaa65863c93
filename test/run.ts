/**
 * The test command: type-check, then every uvu suite under test/ in its own process, then
 * one closing line `N passed, N failed` (`, N skipped` when a test could not run here, such
 * as one that needs root). Exits non-zero when anything failed.
 * Usage: node test/run.ts [substring ...]   (runs only the files whose path contains one)
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { availableParallelism } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 180_000);
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY ?? Math.max(1, Math.min(2, availableParallelism())));

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' || name === 'artifacts' ? [] : findTests(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

interface Outcome { file: string; passed: number; failed: number; skipped: number; output: string; ms: number }

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function run(cmd: string, args: string[], label: string): Promise<{ code: number; output: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    // Own process group: a suite killed for running too long takes the servers it started with it.
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, FORCE_COLOR: '0', TEST_BUILT: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => {
      output += `\n${label}: killed after ${FILE_TIMEOUT_MS} ms\n`;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 1 : 0), output, ms: Date.now() - t0 });
    });
  });
}

async function runFile(file: string): Promise<Outcome> {
  const rel = relative(root, file);
  const { code, output, ms } = await run(process.execPath, [file], rel);
  const text = strip(output);
  const num = (label: string) => Number(/\s+(\d+)\s*$/.exec(text.split('\n').find((l) => l.trim().startsWith(label)) ?? '')?.[1] ?? NaN);
  const total = num('Total:');
  let passed = num('Passed:');
  const skipped = num('Skipped:') || 0;
  // uvu's Total counts the tests that ran; the skipped ones are counted apart.
  let failed = Number.isNaN(total) ? 0 : total - passed;
  if (Number.isNaN(passed)) passed = 0;
  // A suite that crashed or exited non-zero without uvu's tally still counts as a failure.
  if (code !== 0 && failed === 0) failed = 1;
  return { file: rel, passed, failed, skipped, output: text, ms };
}

const files = findTests(join(root, 'test'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

let passed = 0;
let failed = 0;
let skipped = 0;

if (filters.length === 0 || process.env.TEST_TYPECHECK === '1') {
  const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root], 'typecheck');
  const ok = tsc.code === 0;
  console.log(`${ok ? 'ok  ' : 'FAIL'} typecheck (${tsc.ms} ms)`);
  if (!ok) process.stdout.write(tsc.output);
  ok ? passed++ : failed++;
}

// build/ once, before suites that start servers from it run side by side.
const build = await run(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'scripts/build.ts'), '--quiet'], 'build');
if (build.code !== 0) {
  console.log(`FAIL build\n${build.output}`);
  failed++;
}

const queue = [...files];
async function worker(): Promise<void> {
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    const o = await runFile(f);
    passed += o.passed;
    failed += o.failed;
    skipped += o.skipped;
    console.log(`${o.failed > 0 ? 'FAIL' : 'ok  '} ${o.file}: ${o.passed} passed, ${o.failed} failed${o.skipped > 0 ? `, ${o.skipped} skipped` : ''} (${o.ms} ms)`);
    if (o.failed > 0 || process.env.TEST_VERBOSE === '1') process.stdout.write(o.output.replace(/^/gm, '    ') + '\n');
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));

console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
