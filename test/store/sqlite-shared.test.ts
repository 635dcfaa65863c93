import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { storeFileBusy } from '../../src/store/files.ts';
import { QueueKind } from '../../src/store/types.ts';
import { startIm } from '../helpers/im.ts';
import { startProcess } from '../helpers/process.ts';

const WRITER = new URL('../fixtures/shared-store-writer.ts', import.meta.url).pathname;
const run = (file: string, batches: number, tag: string) => new Promise<Record<number, number[]>>((resolve, reject) => {
  execFile(process.execPath, [WRITER, file, String(batches), tag], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(JSON.parse(stdout))));
});

test('three processes writing one shared store at once: every queue\'s keys are 1, 2, 3… with none twice, each process\'s in order', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'im-shared-')), 'messages.db');
  new SqliteStore(file, { shared: true }).close();
  const results = await Promise.all(['a', 'b', 'c'].map((t) => run(file, 400, t)));
  const store = new SqliteStore(file, { shared: true });
  for (const owner of [1, 2, 3]) {
    const mine = results.map((r) => r[owner]!);
    for (const keys of mine) assert.ok(keys.every((k, i) => i === 0 || k > keys[i - 1]!), `queue ${owner}: one process's keys in order`);
    const all = mine.flat().sort((x, y) => x - y);
    assert.equal(all, Array.from({ length: all.length }, (_, i) => i + 1), `queue ${owner}: 1..${all.length}, none twice`);
    const stored = (await store.page({ appid: 1, kind: QueueKind.USER, owner }, 0, 100_000)).messages.map((m) => m.key);
    assert.equal(stored, all);
  }
  await store.close();
});

test('the store\'s folder is made 0700 and its files 0600: they hold every message', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'im-modes-')), 'data');
  const file = join(dir, 'messages.db');
  const s = new SqliteStore(file);
  await s.save([{ appid: 1, kind: QueueKind.USER, owner: 1, deviceId: 0, cmd: 4, body: Buffer.from('x') }]);
  assert.is(statSync(dir).mode & 0o777, 0o700);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(statSync(`${file}-wal`).mode & 0o777, 0o600);
  await s.close();
});

test('a second access server on the same embedded store fails at once, before anything else, naming IM_STORE_DB', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'im-busy-')), 'messages.db');
  const first = await startIm({ IM_STORE_DB: file, IM_SHARDS: '1' });
  try {
    assert.ok(storeFileBusy(file) !== undefined);
    const second = await startProcess('src/server/main.ts', { IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_STORE_DB: file, IM_JWT_SECRET: 'a-secret-of-at-least-32-bytes-long-123' })
      .then(() => 'started', (e: Error) => e.message);
    assert.match(second, /exited with 2/);
    assert.match(second, new RegExp(`IM_STORE_DB=${file} is in use by another access server`));
    assert.match(second, /IM_STORE_SHARED=1/);
  } finally {
    assert.is(await first.stop(), 0);
  }
  assert.is(storeFileBusy(file), undefined, 'free once the first has stopped');
});

test.run();
