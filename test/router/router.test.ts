import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cmd, codecs, encodeFrame } from '../../src/protocol/index.ts';
import { FakeLink } from '../helpers/link.ts';
import { eventually, httpJson, startProcess, type Started } from '../helpers/process.ts';
import { loud } from '../helpers/loud.ts';

let imr: Started;
let port: number;
let httpPort: number;
let A: FakeLink, B: FakeLink, C: FakeLink;

const inner = (n: number) => encodeFrame(codecs.IM, { sender: 1, receiver: 100, timestamp: 1, msgid: n, content: Buffer.from(`m${n}`) }, 1, 2);
const route = (appid: number, receiver: number, n: number) =>
  ({ appid, receiver, msgid: n, device_id: 9, timestamp: 1_700_000_000_000_000_000n + BigInt(n), message: inner(n) });

/** Waits until the router's view of the three links matches, so later frames see it. */
async function view(): Promise<{ link: number; apps: { appid: number; users: [number, boolean][]; rooms: number[] }[] }[]> {
  return (await httpJson(httpPort, '/all_online?detail=1')).body;
}
async function settle(expectUsers: number, expectRooms: number): Promise<void> {
  await eventually(async () => {
    const v = await view();
    const users = v.flatMap((l) => l.apps.flatMap((a) => a.users)).length;
    const rooms = v.flatMap((l) => l.apps.flatMap((a) => a.rooms)).length;
    return users === expectUsers && rooms === expectRooms;
  }, 3000, `router view with ${expectUsers} users and ${expectRooms} rooms`);
}
/**
 * A fence, not a sleep: a round trip on the link that sent (the router has handled what it
 * sent before), then on every link (what the router forwarded to each has arrived).
 */
async function fence(sender: FakeLink): Promise<void> {
  await sender.ping();
  for (const l of [A, B, C]) await l.ping();
}

test.before(loud(async () => {
  imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  port = imr.ready.port as number;
  httpPort = imr.ready.httpPort as number;
  [A, B, C] = await Promise.all([FakeLink.connect(port), FakeLink.connect(port), FakeLink.connect(port)]);
}));

test.after(loud(async () => {
  for (const l of [A, B, C]) l?.close();
  assert.is(await imr?.stop(), 0, 'imr exits 0 on SIGTERM');
}));

test('subscriptions and online flags show in /online and /all_online', async () => {
  A.send(codecs.SUBSCRIBE, { appid: 1, uid: 100, online: 1 });
  B.send(codecs.SUBSCRIBE, { appid: 1, uid: 100, online: 0 });
  B.send(codecs.SUBSCRIBE, { appid: 1, uid: 300, online: 0 });
  C.send(codecs.SUBSCRIBE, { appid: 1, uid: 200, online: 1 });
  C.send(codecs.SUBSCRIBE, { appid: 2, uid: 100, online: 1 });
  await settle(5, 0);
  assert.equal((await httpJson(httpPort, '/online?appid=1&uid=100')).body, { online: true });
  assert.equal((await httpJson(httpPort, '/online?appid=1&uid=300')).body, { online: false }, 'subscribed with online=0');
  assert.equal((await httpJson(httpPort, '/online?appid=1&uid=999')).body, { online: false });
  assert.equal((await httpJson(httpPort, '/all_online')).body, [{ appid: 1, users: [100, 200, 300] }, { appid: 2, users: [100] }]);
  B.send(codecs.SUBSCRIBE, { appid: 1, uid: 300, online: 1 });
  await eventually(async () => (await httpJson(httpPort, '/online?appid=1&uid=300')).body.online === true);
});

test('bad /online parameters get 400 with the meta shape', async () => {
  const r = await httpJson(httpPort, '/online?appid=x&uid=1');
  assert.is(r.status, 400);
  assert.is(r.body.meta.code, 400);
  assert.match(r.body.meta.message, /appid/);
  assert.is((await httpJson(httpPort, '/online?appid=1')).status, 400);
  assert.is((await httpJson(httpPort, '/nope')).status, 404);
});

test('PUBLISH goes to the links that subscribed the uid, never back to the sender, body untouched', async () => {
  const [a0, b0, c0] = [A.frames.length, B.frames.length, C.frames.length];
  C.send(codecs.PUBLISH, route(1, 100, 1));
  await A.waitFrames(a0 + 1);
  await B.waitFrames(b0 + 1);
  const sent = encodeFrame(codecs.PUBLISH, route(1, 100, 1), 1, 0);
  for (const f of [A.frames[a0]!, B.frames[b0]!]) {
    assert.is(f.cmd, Cmd.PUBLISH);
    assert.is(f.body.toString('hex'), sent.subarray(12).toString('hex'), 'forwarded as received');
  }
  A.send(codecs.PUBLISH, route(1, 100, 2));
  await B.waitFrames(b0 + 2);
  A.send(codecs.PUBLISH, route(2, 200, 3)); // appid 2 has no uid 200
  await fence(A);
  assert.is(A.frames.length, a0 + 1, 'not echoed to the publisher');
  assert.is(C.frames.length, c0, 'C never subscribed appid 1 uid 100');
  assert.is(B.frames.length, b0 + 2);
});

test('each link numbers the frames it is sent', async () => {
  const seqs = B.seqs;
  assert.ok(seqs.length > 0);
  assert.equal(seqs, seqs.map((_, i) => i + 1));
});

test('PUBLISH_GROUP goes to every other link', async () => {
  const [a0, b0, c0] = [A.frames.length, B.frames.length, C.frames.length];
  A.send(codecs.PUBLISH_GROUP, route(1, 555, 4));
  await B.waitFrames(b0 + 1);
  await C.waitFrames(c0 + 1);
  await fence(A);
  assert.is(A.frames.length, a0);
  assert.is(B.frames[b0]!.cmd, Cmd.PUBLISH_GROUP);
});

test('rooms: PUBLISH_ROOM to the links in the room; unsubscribe stops it', async () => {
  A.send(codecs.SUBSCRIBE_ROOM, { appid: 1, room_id: 7 });
  C.send(codecs.SUBSCRIBE_ROOM, { appid: 1, room_id: 7 });
  C.send(codecs.SUBSCRIBE_ROOM, { appid: 1, room_id: 7 });
  await settle(5, 2);
  const [a0, b0, c0] = [A.frames.length, B.frames.length, C.frames.length];
  B.send(codecs.PUBLISH_ROOM, route(1, 7, 5));
  await A.waitFrames(a0 + 1);
  await C.waitFrames(c0 + 1);
  A.send(codecs.PUBLISH_ROOM, route(1, 7, 6));
  await C.waitFrames(c0 + 2);
  C.send(codecs.UNSUBSCRIBE_ROOM, { appid: 1, room_id: 7 });
  await settle(5, 1);
  A.send(codecs.PUBLISH_ROOM, route(1, 7, 7));
  await fence(A);
  assert.is(A.frames.length, a0 + 1);
  assert.is(B.frames.length, b0);
  assert.is(C.frames.length, c0 + 2);
  assert.is(C.frames[c0]!.cmd, Cmd.PUBLISH_ROOM);
});

test('UNSUBSCRIBE removes one link; the user stays online through another', async () => {
  B.send(codecs.UNSUBSCRIBE, { appid: 1, uid: 100 });
  await settle(4, 1);
  assert.is((await httpJson(httpPort, '/online?appid=1&uid=100')).body.online, true);
  A.send(codecs.UNSUBSCRIBE, { appid: 1, uid: 100 });
  await settle(3, 1);
  assert.is((await httpJson(httpPort, '/online?appid=1&uid=100')).body.online, false);
  A.send(codecs.UNSUBSCRIBE, { appid: 1, uid: 100 }); // unknown: ignored
  A.send(codecs.UNSUBSCRIBE_ROOM, { appid: 9, room_id: 9 });
  await settle(3, 1);
});

test('a link that sends an invalid frame is closed; the others keep routing', async () => {
  const bad = await FakeLink.connect(port);
  bad.send(codecs.SUBSCRIBE, { appid: 1, uid: 200, online: 1 });
  await settle(4, 1);
  bad.raw(Buffer.from('ffffffff0000000184000000', 'hex'));
  await bad.waitClosed();
  await settle(3, 1);
  const short = await FakeLink.connect(port);
  short.raw(Buffer.concat([Buffer.from('0000000400000001840000', 'hex'), Buffer.from([0, 1, 2, 3, 4])])); // PUBLISH, 4-byte body
  await short.waitClosed();
  const client = await FakeLink.connect(port);
  client.send(codecs.AUTH_TOKEN as never, { platform_id: 1, token: 't', device_id: 'd' } as never); // a client cmd: not for routers
  await client.waitClosed();
  const c0 = C.frames.length;
  A.send(codecs.PUBLISH, route(1, 200, 8));
  await C.waitFrames(c0 + 1);
  const metrics = (await httpJson(httpPort, '/metrics')).body as string;
  assert.match(metrics, /imr_invalid_frames_total\{code="ERR_BODY_LENGTH"\} 1/);
  assert.match(metrics, /imr_invalid_frames_total\{code="ERR_BODY_TOO_SHORT"\} 1/);
  assert.match(metrics, /imr_invalid_frames_total\{code="ERR_CMD_NOT_ALLOWED"\} 1/);
  assert.match(metrics, /imr_links_closed_total\{reason="invalid_frame"\} 3/);
});

test('a closed link loses its subscriptions at once', async () => {
  C.close();
  await settle(1, 1);
  assert.equal((await httpJson(httpPort, '/all_online')).body, [{ appid: 1, users: [300] }]);
  const metrics = (await httpJson(httpPort, '/metrics')).body as string;
  assert.match(metrics, /imr_links 2/);
  assert.match(metrics, /imr_frames_in_total\{cmd="PUBLISH"\} \d+/);
  assert.match(metrics, /imr_frames_out_total\{cmd="PUBLISH_ROOM"\} 3/);
  assert.is((await httpJson(httpPort, '/healthz')).body.ok, true);
});

test.run();
