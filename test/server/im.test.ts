import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImClient } from '../../src/client/index.ts';
import { Flag, codecs } from '../../src/protocol/index.ts';
import { httpJson } from '../helpers/process.ts';
import { login, record, startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 7;
let im: Im;
const clients: ImClient[] = [];
async function user(uid: number, o: Parameters<typeof login>[3] = {}): Promise<ImClient> {
  const c = await login(im, APP, uid, o);
  clients.push(c);
  return c;
}

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '3' });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  assert.is(await im?.stop(), 0, 'im exits 0 on SIGTERM');
}));

test('connections spread over every shard', async () => {
  for (let uid = 1; uid <= 6; uid++) await user(100 + uid);
  const s = (await httpJson(im.httpPort, '/summary')).body;
  assert.is(s.shards.length, 3);
  for (const sh of s.shards) assert.ok(sh.clients >= 2, `shard ${sh.shard} holds ${sh.clients} clients`);
  assert.is(s.client_count, 6);
  assert.is(s.clientset_count, 6);
});

test('IM: every device of the receiver and the sender\'s other devices get one copy, the sender none; ACK names the seq', async () => {
  // Three devices per user, one per shard (each login goes to the least-loaded shard).
  const alice = [await user(1, { deviceId: 'a1' }), await user(1, { deviceId: 'a2' }), await user(1, { deviceId: 'a3' })];
  const bob = [await user(2, { deviceId: 'b1' }), await user(2, { deviceId: 'b2' }), await user(2, { deviceId: 'b3' })];
  const shards = (await httpJson(im.httpPort, '/summary')).body.shards.map((s: { users: number }) => s.users);
  assert.ok(shards.every((n: number) => n >= 2), 'alice and bob have a device on every shard');
  const got = [...alice, ...bob].map((c) => record<[{ sender: number; receiver: number; content: Buffer }, { flag: number }]>(c, 'im'));
  const ack = await alice[0]!.sendIM({ receiver: 2, content: 'hi bob', msgid: 77 });
  assert.is(ack.seq, 2, 'the IM was the second frame alice[0] sent (after AUTH_TOKEN)');
  // The sending connection is fenced by its own PING; the others by an RT from it, which takes the IM's path.
  const a1 = await got[0]!.done();
  const [a2, a3, b1, b2, b3] = await Promise.all(got.slice(1).map((r) => r.until(alice[0]!)));
  assert.is(a1!.length, 0, 'not echoed to the sending connection');
  for (const [i, g] of [b1, b2, b3].entries()) {
    assert.is(g!.length, 1, `bob's device ${i + 1} got exactly one copy`);
    assert.is(g![0]![0].content.toString(), 'hi bob');
    assert.ok(g![0]![1].flag & Flag.PUSH);
  }
  for (const g of [a2, a3]) {
    assert.is(g!.length, 1, 'alice\'s other devices got a copy');
    assert.ok(g![0]![1].flag & Flag.SELF);
    assert.is(g![0]![0].receiver, 2);
  }
});

test('RT between clients on different shards; RT is not acknowledged', async () => {
  const a = await user(11);
  const b = await user(12);
  const acks = record(a, 'ack');
  const got = b.next('rt');
  a.sendRT({ receiver: 12, content: 'typing' });
  const [rt] = await got;
  assert.equal([rt.sender, rt.receiver, rt.content.toString()], [11, 12, 'typing']);
  assert.is((await acks.done()).length, 0);
});

test('rooms: members on other shards receive, the sender does not; one room at a time', async () => {
  const [a, b, c] = [await user(21), await user(22), await user(23)];
  for (const x of [a, b, c]) x.enterRoom(500);
  await b.ping(); // ENTER_ROOM has no answer: a PING round trip orders it
  await a.ping();
  await c.ping();
  const gotB = b.next('room_im');
  const gotC = c.next('room_im');
  const echo = record(a, 'room_im');
  const ack = await a.sendRoomIM({ room: 500, content: 'hello room' });
  assert.ok(ack.seq > 0);
  for (const [m] of [await gotB, await gotC]) assert.equal([m.sender, m.receiver, m.content.toString()], [21, 500, 'hello room']);
  assert.is((await echo.done()).length, 0);

  a.enterRoom(501); // leaves 500
  await a.ping();
  const missed = record(a, 'room_im');
  await b.sendRoomIM({ room: 500, content: 'after a left' });
  assert.is((await missed.done(b)).length, 0, 'a left room 500 when it entered 501');
  const wrongRoom = record(b, 'ack');
  b.post(codecs.ROOM_IM, { sender: 22, receiver: 501, content: Buffer.from('not my room') });
  assert.is((await wrongRoom.done()).length, 0, 'ROOM_IM for a room the connection is not in is dropped');
  c.leaveRoom(500);
  await c.ping();
  const s = (await httpJson(im.httpPort, `/summary?appid=${APP}`)).body;
  assert.is(s.apps[0].room_client_count, 2, 'b in 500, a in 501');
});

test('a message whose sender is not the authenticated uid is dropped without an ACK', async () => {
  const a = await user(31);
  const b = await user(32);
  const got = record(b, 'im');
  const acks = record(a, 'ack');
  a.post(codecs.IM, { sender: 999, receiver: 32, timestamp: 0, msgid: 1, content: Buffer.from('spoof') });
  a.post(codecs.RT, { sender: 999, receiver: 32, content: Buffer.from('spoof') });
  assert.is((await acks.done()).length, 0);
  assert.is((await got.done(a)).length, 0);
});

test('version 0 and version 1 clients get IM in their own layout', async () => {
  const old = await user(41, { version: 0 });
  const mid = await user(42, { version: 1 });
  const gotOld = old.next('im');
  await mid.sendIM({ receiver: 41, content: 'to v0', msgid: 5, timestamp: 1234 });
  const [m0, f0] = await gotOld;
  assert.is(f0.version, 0);
  assert.equal([m0.sender, m0.msgid, m0.timestamp, m0.content.toString()], [42, 5, 0, 'to v0']);
  const gotMid = mid.next('im');
  const ack = await old.sendIM({ receiver: 42, content: 'to v1', msgid: 6 });
  assert.is(ack.status, 0);
  const [m1, f1] = await gotMid;
  assert.is(f1.version, 1);
  assert.equal([m1.sender, m1.msgid, m1.content.toString()], [41, 6, 'to v1']);
});

test('a TCP client and a WebSocket client talk to each other', async () => {
  const t = await user(51);
  const w = await user(52, { transport: 'ws' });
  const toWs = w.next('im');
  await t.sendIM({ receiver: 52, content: 'tcp→ws' });
  assert.is((await toWs)[0].content.toString(), 'tcp→ws');
  const toTcp = t.next('im');
  await w.sendIM({ receiver: 51, content: 'ws→tcp' });
  assert.is((await toTcp)[0].content.toString(), 'ws→tcp');
});

test('PING before auth gets PONG; other frames before auth are ignored; a bad token gets AUTH_STATUS 1 with version 0', async () => {
  const c = await ImClient.connect({ port: im.port, uid: 61 });
  clients.push(c);
  await c.ping();
  const ignored = record(c, 'ack');
  c.post(codecs.IM, { sender: 61, receiver: 62, timestamp: 0, msgid: 1, content: Buffer.from('x') });
  assert.is((await ignored.done()).length, 0);
  const status = c.next('auth_status');
  assert.is(await c.auth({ token: 'not-a-jwt' }), 1);
  assert.is((await status)[1].version, 0);
  assert.not.ok(c.closed, 'the connection stays open after a failed auth');
});

test('SYNC is answered with an empty SYNC_BEGIN / SYNC_END pair', async () => {
  const c = await user(71);
  const begin = c.next('sync_begin');
  const end = c.next('sync_end');
  c.post(codecs.SYNC, { sync_key: 42 });
  assert.is((await begin)[0].sync_key, 42);
  assert.is((await end)[0].sync_key, 42);
});

test('/summary counts what happened', async () => {
  const s = (await httpJson(im.httpPort, '/summary')).body;
  assert.ok(s.in_message_count >= 8);
  assert.ok(s.out_message_count > s.in_message_count);
  assert.ok(s.shards.reduce((n: number, x: { handoffs_out: number }) => n + x.handoffs_out, 0) > 0, 'cross-shard hand-offs happened');
  assert.is((await httpJson(im.httpPort, '/summary?appid=x')).status, 400);
});

test.run();
