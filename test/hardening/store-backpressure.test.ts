/**
 * A client that sends faster than the store saves is held back: past a bound of its
 * messages waiting for the store, its reads pause until half are saved, as the reference's
 * one-message-at-a-time handling would hold it. Before, a 5 s flood of 32 KB IMs from one
 * client made the server hold 2.2 GB. Nothing is lost on the way: every message is
 * acknowledged and stored. The store is made slower than the client for certain, not left to
 * the machine's speed: the test holds the (shared) store file's write lock until the pause
 * has happened.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { Cmd, FrameDecoder, SERVER_CMDS, codecs, encodeFrame } from '../../src/protocol/index.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { login, startIm, token, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const APP = 6;
const N = 600;
let im: Im;
const file = join(mkdtempSync(join(tmpdir(), 'im-backpressure-')), 'messages.db');

test.before(loud(async () => {
  // Shared: another process (this test) may take the file's write lock, and the store waits for it.
  im = await startIm({ IM_SHARDS: '1', IM_STORE_DB: file, IM_STORE_SHARED: '1' });
}));

const storePauses = async () => ((await httpJson(im.httpPort, '/summary')).body.shards as { storePauses: number }[])[0]!.storePauses;

/** Holds the store's write lock while `flood` runs and until the sender has been paused more than `before` times. */
async function whileStoreIsLocked(before: number, flood: () => void): Promise<void> {
  const db = new DatabaseSync(file, { timeout: 5000 });
  db.exec('BEGIN IMMEDIATE');
  try {
    flood();
    await eventually(async () => (await storePauses()) > before, 10_000, 'the sender held back');
  } finally {
    db.exec('ROLLBACK');
    db.close();
  }
}

test.after(loud(async () => {
  await im?.stop();
}));

test(`${N} IMs of 32 KB written at once: the sender is paused and resumed, every one acknowledged and stored`, async () => {
  const s = net.connect({ port: im.port, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  const acks: number[] = [];
  let authed = false;
  const d = new FrameDecoder({ accept: SERVER_CMDS });
  s.on('data', (c: Buffer) => d.push(c, (f) => {
    if (f.cmd === Cmd.AUTH_STATUS) authed = true;
    if (f.cmd === Cmd.ACK) acks.push(f.body.readInt32BE(0));
  }));
  s.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 1, token: await token(APP, 1), device_id: 'flood' }, 1, 2));
  await eventually(() => authed, 5000, 'authenticated');
  const content = Buffer.alloc(32_000, 0x61);
  await whileStoreIsLocked(await storePauses(), () => {
    s.write(Buffer.concat(Array.from({ length: N }, (_, i) => encodeFrame(codecs.IM, { sender: 1, receiver: 2, timestamp: 0, msgid: i, content }, 2 + i, 2))));
  });
  await eventually(() => acks.length === N, 60_000, 'every IM acknowledged');
  assert.equal(acks, Array.from({ length: N }, (_, i) => 2 + i), 'in order, each once');
  assert.equal((await httpJson(im.httpPort, `/get_offline_count?appid=${APP}&uid=2`)).body, { data: { count: N } });
  assert.match((await httpJson(im.httpPort, '/metrics')).body, /im_store_pauses_total\{shard="0"\} [1-9]/);
  s.destroy();
});

test(`the same over WebSocket: held back and resumed, ${N} acknowledged and stored`, async () => {
  const c = await login(im, APP, 11, { transport: 'ws' });
  const content = Buffer.alloc(32_000, 0x62);
  let sent: Promise<{ status: number }[]> = Promise.resolve([]);
  await whileStoreIsLocked(await storePauses(), () => {
    sent = Promise.all(Array.from({ length: N }, () => c.sendIM({ receiver: 12, content })));
  });
  const acks = await sent;
  assert.ok(acks.every((a) => a.status === 0));
  assert.equal((await httpJson(im.httpPort, `/get_offline_count?appid=${APP}&uid=12`)).body, { data: { count: N } });
  c.destroy();
});

test.run();
