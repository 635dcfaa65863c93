import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteGroupSource } from '../../src/groups/sqlite.ts';

const run = promisify(execFile);

test('several servers starting at once on one new SQLite file all open it and write to it', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'im-groups-')), 'groups.db');
  const fixture = new URL('../fixtures/open-group-db.ts', import.meta.url).pathname;
  const at = String(Date.now() + 1500);
  const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, [fixture, file, at])));
  const ids = outs.map((o) => Number(o.stdout.trim())).sort((a, b) => a - b);
  assert.equal(ids, [1, 2, 3, 4, 5, 6]);
  const source = new SqliteGroupSource(file);
  const g = await source.load(1, 6);
  assert.equal([...g!.members.keys()].sort(), [1, 2]);
  assert.is(await source.load(2, 6), null, 'a group belongs to its app only');
  await source.close();
});

test.run();
