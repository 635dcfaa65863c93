/**
 * Builds the client SDK package in sdk/: its JavaScript (the sources of src/client and the
 * protocol modules it imports, types stripped) and its declarations (.d.ts, by tsc), so
 * that an application installs it with npm and runs it on any Node.js of `engines`, no
 * TypeScript and no server dependency needed. `npm pack` in sdk/ runs it first.
 * Run: node scripts/build-sdk.ts
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative } from 'node:path';

const root = new URL('../', import.meta.url).pathname;
const sdk = join(root, 'sdk');
const dist = join(sdk, 'dist');

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else yield p;
  }
}

/** './x.ts' and '../y/z.ts' → '.js': what Node resolves in the package. */
const toJs = (code: string) => code.replace(/(['"])(\.\.?\/[^'"\n]*?)\.ts\1/g, '$1$2.js$1');

rmSync(dist, { recursive: true, force: true });
// Declarations of everything the SDK's entry point reaches (sdk/tsconfig.json).
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(sdk, 'tsconfig.json')], { stdio: 'inherit' });
let n = 0;
for (const d of [...files(dist)].filter((f) => f.endsWith('.d.ts'))) {
  writeFileSync(d, toJs(readFileSync(d, 'utf8')));
  const source = join(root, 'src', relative(dist, d).replace(/\.d\.ts$/, '.ts'));
  const target = d.replace(/\.d\.ts$/, '.js');
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, toJs(stripTypeScriptTypes(readFileSync(source, 'utf8'), { mode: 'strip' })));
  n++;
}
copyFileSync(join(root, 'LICENSE'), join(sdk, 'LICENSE'));
process.stderr.write(`sdk/dist: ${n} modules (${[...files(dist)].reduce((s, f) => s + statSync(f).size, 0)} bytes)\n`);
