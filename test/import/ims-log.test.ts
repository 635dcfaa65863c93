import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImsLogWriter } from '../../src/import/ims-writer.ts';
import { parseDeviceKey } from '../../src/import/gobelieve-redis.ts';
import { importIms, type ImportReport } from '../../src/import/importer.ts';
import { LOG, encodeRecord } from '../../src/import/ims-log.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { QueueKind, type StoredMessage } from '../../src/store/types.ts';
import { codecs, encodeBody } from '../../src/protocol/index.ts';
import { runImport } from './fixture-suite.ts';

const APP = 7;
const tmp = () => mkdtempSync(join(tmpdir(), 'im-ims-'));
const im = (sender: number, receiver: number, text: string) =>
  encodeBody(codecs.IM, { sender, receiver, timestamp: 1_700_000_000, msgid: 1, content: Buffer.from(text) }, 2);

/** A small log: users 1..3 exchange `n` IMs (each filed for receiver then sender), a super group 9 gets some. */
function writeLog(dir: string, n: number, fileLimit?: number): { keys: Map<string, number[]>; writer: ImsLogWriter } {
  const w = new ImsLogWriter(dir, { fileLimit });
  const keys = new Map<string, number[]>();
  const add = (q: string, k: number) => keys.set(q, [...(keys.get(q) ?? []), k]);
  for (let i = 0; i < n; i++) {
    const [s, r] = [1 + (i % 3), 1 + ((i + 1) % 3)];
    const body = im(s, r, `m${i}`);
    add(`u${r}`, w.user(APP, r, 4, body, 5));
    add(`u${s}`, w.user(APP, s, 4, body, 5));
    if (i % 4 === 0) add('g9', w.group(APP, 9, 8, im(s, 9, `g${i}`), 5));
  }
  return { keys, writer: w };
}

async function intoStore(dir: string): Promise<{ report: ImportReport; store: SqliteStore }> {
  const store = new SqliteStore(join(tmp(), 'messages.db'));
  return { report: await importIms({ ims: dir, target: store, force: false, devices: new Map([[5, 12345]]) }), store };
}

const all = async (store: SqliteStore, kind: QueueKind, owner: number): Promise<StoredMessage[]> =>
  (await store.page({ appid: APP, kind, owner }, 0, 100_000)).messages;

test('a log over several message_N files: every entry lands at its ims id, the later files\' ids above 2^27', async () => {
  const dir = tmp();
  const { keys, writer } = writeLog(dir, 300, 20_000);
  writer.close();
  assert.ok(readdirSync(dir).length >= 3, 'several files');
  const { report, store } = await intoStore(dir);
  assert.is(report.written, 600 + 75);
  assert.is(report.damage.length, 0);
  for (const uid of [1, 2, 3]) assert.equal((await all(store, QueueKind.USER, uid)).map((m) => m.key), keys.get(`u${uid}`));
  assert.equal((await all(store, QueueKind.GROUP, 9)).map((m) => m.key), keys.get('g9'));
  assert.ok(keys.get('u1')!.at(-1)! > LOG.BLOCK);
  const [first] = await all(store, QueueKind.USER, 2);
  assert.is(first!.deviceId, 12345, 'the device number mapped');
  // The next save follows the greatest imported key of its queue.
  const [saved] = await store.save([{ appid: APP, kind: QueueKind.USER, owner: 1, deviceId: 0, cmd: 4, body: im(2, 1, 'new') }]);
  assert.equal(saved, { key: keys.get('u1')!.at(-1)! + 1, prev: keys.get('u1')!.at(-1)! });
  await store.close();
});

test('a torn last record (ims stopped mid-write) is reported and left out, never imported half', async () => {
  for (const cut of [1, 10, 70, 90]) {
    const dir = tmp();
    const { keys, writer } = writeLog(dir, 20);
    writer.close();
    const file = join(dir, 'message_0');
    truncateSync(file, statSync(file).size - cut);
    const { report, store } = await intoStore(dir);
    assert.is(report.damage.length, 1, `cut ${cut}`);
    assert.is(report.damage[0]!.kind, 'torn');
    // The log ends with the last IM filed for its sender: its message record, then its queue
    // record (84 bytes). A cut inside the queue record loses the entry; a deeper one, both.
    const stored = (await all(store, QueueKind.USER, 1)).length + (await all(store, QueueKind.USER, 2)).length + (await all(store, QueueKind.USER, 3)).length;
    assert.is(stored, 40 - 1, `cut ${cut}: the last entry left out, every other one in`);
    for (const m of await all(store, QueueKind.USER, 3)) assert.ok(keys.get('u3')!.includes(m.key));
    await store.close();
  }
});

test('retired queue records (cmds 249-255) and message records of another version are skipped and counted', async () => {
  const dir = tmp();
  const { writer } = writeLog(dir, 5);
  writer.raw(250, 0, 0, Buffer.alloc(48));
  writer.raw(255, 0, 0, Buffer.alloc(40));
  writer.raw(4, 1, 0, im(1, 2, 'version 1'));
  writer.user(APP, 2, 4, im(1, 2, 'after'), 5);
  writer.close();
  const { report, store } = await intoStore(dir);
  assert.is(report.skipped.retiredQueueRecords, 2);
  assert.equal(report.skipped.otherMessageRecords, { 'IM version 1': 1 });
  assert.is(report.written, 10 + 2 + 1);
  assert.ok(Buffer.from((await all(store, QueueKind.USER, 2)).at(-1)!.body).toString().endsWith('after'));
  await store.close();
});

test('bytes that are no record stop that file, are reported, and what came before is imported', async () => {
  const dir = tmp();
  const { writer } = writeLog(dir, 10);
  writer.roll();
  writer.user(APP, 1, 4, im(2, 1, 'second file'), 5);
  writer.close();
  appendFileSync(join(dir, 'message_0'), Buffer.from('garbage that is no record at all'));
  const { report, store } = await intoStore(dir);
  assert.is(report.damage.length, 1);
  assert.is(report.damage[0]!.kind, 'corrupt');
  assert.is(report.written, 20 + 3 + 1, 'the first file up to the garbage, and the second file');
  await store.close();
});

test('fuzz: a log cut or scribbled anywhere imports without throwing, and only whole records', async () => {
  const dir = tmp();
  const { writer } = writeLog(dir, 40);
  writer.close();
  const original = readFileSync(join(dir, 'message_0'));
  const bodies = new Set<string>();
  for (let i = 0; i < 40; i++) bodies.add(im(1 + (i % 3), 1 + ((i + 1) % 3), `m${i}`).toString('hex'));
  for (let i = 0; i < 40; i += 4) bodies.add(im(1 + (i % 3), 9, `g${i}`).toString('hex'));
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let round = 0; round < 60; round++) {
    const d = tmp();
    mkdirSync(d, { recursive: true });
    let bytes = Buffer.from(original);
    if (round % 2 === 0) bytes = bytes.subarray(0, LOG.HEADER + rand(bytes.length - LOG.HEADER));
    else for (let k = 0; k < 1 + rand(4); k++) bytes[LOG.HEADER + rand(bytes.length - LOG.HEADER)] = rand(256);
    writeFileSync(join(d, 'message_0'), bytes);
    const { report, store } = await intoStore(d);
    for (const [kind, owner] of [[QueueKind.USER, 1], [QueueKind.USER, 2], [QueueKind.USER, 3], [QueueKind.GROUP, 9]] as const) {
      for (const m of await all(store, kind, owner)) {
        // A scribbled byte may land inside a body (a record still whole): then it is not one of ours.
        if (round % 2 === 0) assert.ok(bodies.has(Buffer.from(m.body).toString('hex')), `round ${round}: a whole body`);
        assert.ok(m.key >= LOG.HEADER && m.key < bytes.length, `round ${round}: a key inside the file`);
      }
    }
    assert.ok(report.written <= 90);
    await store.close();
  }
});

test('bin/im-import refuses, with one line and exit 2: no ims folder, a file without the header, a log being written, an unreachable store or Redis', async () => {
  const store = { IM_STORE_DB: join(tmp(), 'messages.db') };
  const empty = tmp();
  let r = await runImport(['--ims', empty], store);
  assert.is(r.code, 2);
  assert.match(r.stderr, /is not an ims storage folder: it has no message_N files/);
  writeFileSync(join(empty, 'message_0'), 'not a log');
  r = await runImport(['--ims', empty], store);
  assert.is(r.code, 2);
  assert.match(r.stderr, /is not an ims log file/);

  const busy = tmp();
  writeLog(busy, 5).writer.close();
  const growing = setInterval(() => appendFileSync(join(busy, 'message_0'), encodeRecord(4, 2, 0, im(1, 2, 'x'))), 50);
  try {
    r = await runImport(['--ims', busy, '--settle-ms', '500'], store);
  } finally {
    clearInterval(growing);
  }
  assert.is(r.code, 2);
  assert.match(r.stderr, /ims is still writing; stop ims first/);

  const ok = tmp();
  writeLog(ok, 5).writer.close();
  r = await runImport(['--ims', ok, '--settle-ms', '0'], { IM_STORE: 'postgres', IM_STORE_URL: 'postgres://im:pgsecret@127.0.0.1:1/im' });
  assert.is(r.code, 2);
  assert.match(r.stderr, /^im-import: cannot reach PostgreSQL at postgres:\/\/im:\*\*\*@127\.0\.0\.1:1\/im \(IM_STORE_URL\)/);
  assert.not.match(r.stderr, /pgsecret/);
  r = await runImport(['--ims', ok, '--settle-ms', '0', '--redis', 'redis://:redispw@127.0.0.1:1'], store);
  assert.is(r.code, 2);
  assert.match(r.stderr, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
  assert.not.match(r.stderr, /redispw/);
  // GoBelieve's im.cfg is taken as bin/im takes it (the store comes from the environment here).
  const cfg = join(ok, 'im.cfg');
  writeFileSync(cfg, 'port = 23000\nredis_address = "127.0.0.1:6379"\n');
  r = await runImport(['--ims', ok, '--settle-ms', '0', '--config', cfg], store);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /messages written: 12\n/);
});

test('GoBelieve\'s device keys: the platform follows the last _, a device id may hold _ itself', () => {
  assert.equal(parseDeviceKey('devices_CD613E30-D8F1_2'), ['CD613E30-D8F1', 2]);
  assert.equal(parseDeviceKey('devices_desk_5_7f1a35_1'), ['desk_5_7f1a35', 1]);
  assert.is(parseDeviceKey('devices_id'), undefined, 'the counter is no device');
  assert.is(parseDeviceKey('devices_x_web'), undefined);
});

test.run();
