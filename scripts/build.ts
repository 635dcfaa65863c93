/**
 * Writes build/: the JavaScript of src/ and workers/ with the types stripped, which `npm start`,
 * `npm run imr` and bin/ run. Node can run the TypeScript sources directly, but its type
 * stripper costs every thread that loads a .ts file about 16 MiB (bench/RESULTS.md), and a
 * server has four threads or more. Types become spaces, so lines and columns in stack traces
 * match the sources. A file is rewritten only when its source is newer, through a temporary
 * file and a rename, so two builds at once (two services starting) do not harm each other.
 * Run: node --disable-warning=ExperimentalWarning scripts/build.ts
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative } from 'node:path';

const root = new URL('../', import.meta.url).pathname;
const out = join(root, 'build');
const SOURCES = ['src', 'workers'];

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* files(path);
    else if (e.isFile()) yield path;
  }
}

function newer(source: string, target: string): boolean {
  try {
    return statSync(source).mtimeMs > statSync(target).mtimeMs;
  } catch {
    return true;
  }
}

function write(target: string, content: string | Buffer): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, target);
}

/** `'./x.ts'` and `'../y/z.ts'` (imports, dynamic imports, worker URLs) → `.js`. */
function toJs(code: string): string {
  return code.replace(/(['"])(\.\.?\/[^'"\n]*?)\.ts\1/g, '$1$2.js$1');
}

let written = 0;
const expected = new Set<string>([join(out, 'package.json')]);
for (const dir of SOURCES) {
  for (const source of files(join(root, dir))) {
    const ts = source.endsWith('.ts') && !source.endsWith('.d.ts');
    const target = join(out, relative(root, ts ? source.replace(/\.ts$/, '.js') : source));
    expected.add(target);
    if (!newer(source, target)) continue;
    write(target, ts ? toJs(stripTypeScriptTypes(readFileSync(source, 'utf8'), { mode: 'strip' })) : readFileSync(source));
    written++;
  }
}
// "type": "module" for the .js files, and the version that --version reads (../../package.json).
if (newer(join(root, 'package.json'), join(out, 'package.json'))) copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
let removed = 0;
for (const dir of SOURCES) {
  let built: string[] = [];
  try {
    built = [...files(join(out, dir))];
  } catch { /* nothing built yet */ }
  for (const f of built) {
    if (!expected.has(f) && !f.endsWith('.tmp')) {
      rmSync(f);
      removed++;
    }
  }
}
if (process.argv.includes('--verbose') || written + removed > 0 && !process.argv.includes('--quiet')) {
  process.stderr.write(`build/: ${written} written, ${removed} removed\n`);
}
