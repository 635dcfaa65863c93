import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { IM_VARIABLES, IMR_VARIABLES, unknownVariables } from '../../src/config/variables.ts';
import { readmeWithTables } from '../../src/config/readme.ts';
import { startIm } from '../helpers/im.ts';
import { builtEntry } from '../helpers/process.ts';

const root = new URL('../../', import.meta.url).pathname;
const names = (vars: typeof IM_VARIABLES) => vars.flatMap((v) => v.names).sort();
/** Every 'IM_…' (or 'IMR_…') string the configuration modules read. */
const read = (files: string[], prefix: string) =>
  [...new Set(files.flatMap((file) => [...readFileSync(`${root}${file}`, 'utf8').matchAll(new RegExp(`'(${prefix}[A-Z0-9_]+)'`, 'g'))].map((m) => m[1]!)))].sort();

test('the table lists exactly the variables the configuration reads', () => {
  assert.equal(names(IM_VARIABLES), read(['src/config/server.ts', 'src/config/nats.ts'], 'IM_'));
  assert.equal(names(IMR_VARIABLES), read(['src/config/router.ts'], 'IMR_'));
});

test('the README\'s tables are the table\'s (npm run docs writes them)', () => {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  assert.is(readmeWithTables(readme), readme, 'README.md is out of date: run npm run docs');
});

test('--help lists every variable', () => {
  for (const [entry, vars] of [['src/server/main.ts', IM_VARIABLES], ['src/router/main.ts', IMR_VARIABLES]] as const) {
    const help = execFileSync(process.execPath, [builtEntry(entry), '--help'], { cwd: root }).toString();
    for (const n of names(vars)) assert.ok(help.includes(n), `${entry} --help: ${n}`);
  }
});

test('--help: one text of its own for each variable, under a header whose columns line up with the rows', () => {
  for (const entry of ['src/server/main.ts', 'src/router/main.ts']) {
    const help = execFileSync(process.execPath, [builtEntry(entry), '--help'], { cwd: root }).toString();
    const lines = help.split('\n');
    const header = lines.findIndex((l) => /^ {2}variable +default +meaning$/.test(l));
    assert.ok(header > 0, `${entry}: the header`);
    const rows = lines.slice(header + 1, lines.indexOf('', header));
    const at = (l: string, word: string) => lines[header]!.indexOf(word);
    for (const r of rows) {
      assert.is(r[at(r, 'default') - 1], ' ', `${entry}: a default starts under its header: ${r}`);
      assert.is.not(r[at(r, 'default')], ' ', `${entry}: ${r}`);
      assert.is.not(r[at(r, 'meaning')], ' ', `${entry}: a meaning starts under its header: ${r}`);
    }
    const shorts = rows.map((r) => r.slice(at(r, 'meaning')));
    assert.is(new Set(shorts).size, shorts.length, `${entry}: two variables share a text: ${shorts.filter((t, i) => shorts.indexOf(t) !== i).join('; ')}`);
  }
});

test('an unknown variable is found with the known name nearest to it', () => {
  assert.equal(unknownVariables({ IM_PROT: '23001', IM_PORT: '1', IMR_PORT: '2', HOME: '/' }, 'im'), [{ name: 'IM_PROT', nearest: 'IM_PORT' }]);
  assert.equal(unknownVariables({ IMR_REDIS_ULR: 'x', IM_PORT: '1' }, 'imr'), [{ name: 'IMR_REDIS_ULR', nearest: 'IMR_REDIS_URL' }]);
  assert.equal(unknownVariables({ IM_SOMETHING_ELSE_ENTIRELY: '1' }, 'im'), [{ name: 'IM_SOMETHING_ELSE_ENTIRELY', nearest: undefined }]);
});

test('a server started with IM_PROT warns once, naming IM_PORT', async () => {
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_PROT: '23001' });
  try {
    const lines = im.lines.filter((l) => l.includes('IM_PROT is not a variable of im: did you mean IM_PORT?'));
    assert.is(lines.length, 1);
  } finally {
    assert.is(await im.stop(), 0);
  }
});

test.run();
