import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIm, token } from '../helpers/im.ts';

/*
 * The SDK as an application gets it: packed from sdk/, installed into a fresh project with
 * npm, the README's example run there on plain Node.js against a real server. Its
 * declarations type-check an application that uses them.
 */
const root = new URL('../../', import.meta.url).pathname;

/** The README's SDK example, as it is. */
function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Client SDK'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the README has the SDK example');
  return m[1]!;
}

test('the SDK packs, installs into a fresh project without the server\'s dependencies, and runs the README example', async () => {
  const out = mkdtempSync(join(tmpdir(), 'im-sdk-pack-'));
  execFileSync('npm', ['pack', '--pack-destination', out, '--silent'], { cwd: join(root, 'sdk'), stdio: ['ignore', 'pipe', 'pipe'] });
  const tarball = readdirSync(out).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');
  // Its README stands alone: no link outside the package, no install from a registry it is not on.
  const readme = readFileSync(join(root, 'sdk/README.md'), 'utf8');
  assert.not.match(readme, /\]\(\.\.\//, 'a link outside the package');
  assert.not.match(readme, /npm install gobelieve-router-client\b/, 'the package is not published');
  assert.match(readme, /npm install \/path\/to\/gobelieve-router-client-[\d.]+\.tgz/);
  // A tarball packed where the README says (cd sdk && npm pack) is no change to the checkout.
  execFileSync('git', ['check-ignore', '-q', `sdk/${tarball}`], { cwd: root });
  const app = mkdtempSync(join(tmpdir(), 'im-sdk-app-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'an-app', private: true, type: 'module' }));
  execFileSync('npm', ['install', join(out, tarball), '--no-audit', '--no-fund', '--prefer-offline', '--silent'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  const installed = readdirSync(join(app, 'node_modules')).filter((d) => !d.startsWith('.')).sort();
  assert.equal(installed, ['gobelieve-router-client', 'ws'], 'the SDK and ws, nothing of the server');
  assert.not.ok(existsSync(join(app, 'node_modules/gobelieve-router-client/dist/client/client.ts')), 'JavaScript, not TypeScript');

  const im = await startIm({ IM_SHARDS: '1' });
  try {
    const example = readmeExample().replace('TOKEN-OF-ALICE', await token(7, 1)).replace('port: 23000', `port: ${im.port}`);
    writeFileSync(join(app, 'example.mjs'), example);
    const printed = execFileSync(process.execPath, ['example.mjs'], { cwd: app, timeout: 30_000 }).toString();
    // It ran to its end (exit 0), and its sync left out the 'hello' it had sent itself, as the README says.
    assert.match(printed, /^synced 0 messages$/m, printed);
    // The same on the system's Node.js, when it is another one (the package asks for 20 or newer).
    const system = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p));
    if (system !== undefined && execFileSync(system, ['--version']).toString().trim() !== process.version) {
      assert.match(execFileSync(system, ['example.mjs'], { cwd: app, timeout: 30_000 }).toString(), /^synced 0 messages$/m);
    }
  } finally {
    assert.is(await im.stop(), 0);
  }

  // An application in TypeScript type-checks against the declarations.
  writeFileSync(join(app, 'app.ts'), [
    "import { ImClient, type SyncResult } from 'gobelieve-router-client';",
    "const c: ImClient = await ImClient.connect({ port: 23000 });",
    "c.on('im', (m) => { const s: number = m.sender; void s; });",
    "const r: SyncResult = await c.sync();",
    "const k: number | undefined = c.lastKey;",
    'void r; void k;',
  ].join('\n'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'esnext', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] },
    files: ['app.ts'],
  }));
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
});

test.run();
