/**
 * docs/architecture.md against the code, where a reader can be misled: the file lists of
 * the shard and Channel folders name every file in them, and the limits it lists are the
 * ones src/config/limits.ts holds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const doc = readFileSync(join(root, 'docs/architecture.md'), 'utf8');

for (const folder of ['src/shard', 'src/channel']) {
  test(`the folder table names every file of ${folder}/`, () => {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${folder}/\``));
    assert.ok(row, `a row for ${folder}/`);
    const missing = readdirSync(join(root, folder)).filter((f) => f.endsWith('.ts') && !row.includes(`\`${f}\``));
    assert.equal(missing, [], `not named in the ${folder}/ row`);
  });
}

test('the limits that are not settings are the ones limits.ts exports, each listed', () => {
  const exported = [...readFileSync(join(root, 'src/config/limits.ts'), 'utf8').matchAll(/^export const (\w+)/gm)].map((m) => m[1]!);
  const section = doc.slice(doc.indexOf('## Limits that are not settings'), doc.indexOf('\n## ', doc.indexOf('## Limits that are not settings') + 5));
  for (const name of exported) assert.ok(section.includes(`\`${name}\``), `${name} is not listed`);
});

test.run();
