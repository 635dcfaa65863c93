/**
 * The message store's behaviour (docs/store.md), run once against the embedded SQLite engine
 * and once against a real PostgreSQL (store-sqlite.test.ts, store-postgres.test.ts), with the
 * project's own SDK over real sockets.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient, SyncResult } from '../../src/client/index.ts';
import { Cmd, Flag, codecs, type Frame } from '../../src/protocol/index.ts';
import { httpJson } from '../helpers/process.ts';
import { login, record, startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

export interface StoreUnderTest {
  name: string;
  /** Environment that selects the engine; shared by every server of the suite. */
  env(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

const APP = 6;
const KEFU = 1000;

type Meta = { sync_key: number; prev_sync_key: number };
const decode = <T>(cmd: keyof typeof codecs, f: Frame) => codecs[cmd].forVersion(f.version).decode(f.body, 0, f.body.length) as T;
const cmds = (fs: Frame[]) => fs.map((f) => f.cmd);
const texts = (r: SyncResult) => r.messages.map((m) => (m.body as { content: Buffer }).content.toString());

export function storeSuite(engine: StoreUnderTest): void {
  let im: Im;
  let env: Record<string, string>;
  const clients: ImClient[] = [];
  const on = async (uid: number, deviceId?: string, appid = APP) => {
    const c = await login(im, appid, uid, { deviceId: deviceId ?? `d-${uid}-${Math.random()}` });
    clients.push(c);
    return c;
  };
  const post = (path: string, body: string | object) => httpJson(im.httpPort, path, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  test.before(loud(async () => {
    env = { ...(await engine.env()), IM_SHARDS: '3', IM_KEFU_APPID: String(KEFU) };
    im = await startIm(env);
  }));

  test.after(loud(async () => {
    for (const c of clients) c.destroy();
    await im?.stop();
    await engine.stop();
  }));

  test(`${engine.name}: offline receiver: the sender gets METADATA then ACK; the receiver's SYNC(0) has the IM`, async () => {
    const a = await on(1);
    const seen = record<[Frame]>(a, 'frame');
    const ack = await a.sendIM({ receiver: 2, content: 'while you were away', msgid: 77, timestamp: 5 });
    assert.is(ack.status, 0);
    const got = (await seen.done()).map(([f]) => f).filter((f) => f.cmd !== Cmd.PONG);
    assert.equal(cmds(got), [Cmd.METADATA, Cmd.ACK], 'METADATA of the sender\'s own copy, then the ACK');
    const m = decode<Meta>('METADATA', got[0]!);
    assert.equal([m.sync_key, m.prev_sync_key], [1, 0]);
    const b = await on(2);
    const r = await b.sync(0);
    assert.is(r.messages.length, 1);
    const [msg] = r.messages;
    const body = msg!.body as { sender: number; receiver: number; timestamp: number; msgid: number };
    assert.equal([msg!.cmd, msg!.flag, body.sender, body.receiver, body.msgid], [Cmd.IM, 0, 1, 2, 77]);
    assert.ok(Math.abs(body.timestamp - Date.now() / 1000) < 60, 'the server stamps the time');
    assert.is(r.key, 1);
  });

  test(`${engine.name}: online receiver: METADATA, IM (PUSH), SYNC_NOTIFY in order; prev chains; a sync gives flag 0`, async () => {
    const a = await on(11);
    const b = await on(12);
    const seen = record<[Frame]>(b, 'frame');
    for (const t of ['one', 'two', 'three']) await a.sendIM({ receiver: 12, content: t });
    const got = (await seen.done(a)).map(([f]) => f).filter((f) => f.cmd !== Cmd.PONG);
    assert.equal(cmds(got), [Cmd.METADATA, Cmd.IM, Cmd.SYNC_NOTIFY, Cmd.METADATA, Cmd.IM, Cmd.SYNC_NOTIFY, Cmd.METADATA, Cmd.IM, Cmd.SYNC_NOTIFY]);
    const metas = got.filter((f) => f.cmd === Cmd.METADATA).map((f) => decode<Meta>('METADATA', f));
    assert.equal(metas.map((m) => [m.sync_key, m.prev_sync_key]), [[1, 0], [2, 1], [3, 2]]);
    for (const f of got.filter((x) => x.cmd === Cmd.IM)) assert.is(f.flag & Flag.PUSH, Flag.PUSH);
    assert.equal(got.filter((f) => f.cmd === Cmd.SYNC_NOTIFY).map((f) => decode<{ sync_key: number }>('SYNC_NOTIFY', f).sync_key), [1, 2, 3]);
    const r = await b.sync(1);
    assert.equal(texts(r), ['two', 'three']);
    assert.ok(r.messages.every((m) => m.flag === 0));
    assert.is(r.key, 3);
  });

  test(`${engine.name}: the sender's other device gets METADATA, IM, SYNC_NOTIFY; the sending one nothing; SELF only on the sender's device in a sync`, async () => {
    const a1 = await on(21, 'phone');
    const a2 = await on(21, 'pad');
    const on1 = record<[Frame]>(a1, 'frame');
    const on2 = record<[Frame]>(a2, 'frame');
    await a1.sendIM({ receiver: 22, content: 'from the phone' });
    const g1 = (await on1.done()).map(([f]) => f.cmd).filter((c) => c !== Cmd.PONG);
    const g2 = (await on2.done(a1)).map(([f]) => f.cmd).filter((c) => c !== Cmd.PONG);
    assert.equal(g1, [Cmd.METADATA, Cmd.ACK], 'no echo to the sending connection');
    assert.equal(g2, [Cmd.METADATA, Cmd.IM, Cmd.SYNC_NOTIFY]);
    assert.is((await a1.sync(0)).messages[0]!.flag, Flag.SELF);
    assert.is((await a2.sync(0)).messages[0]!.flag, 0);
  });

  test(`${engine.name}: SYNC_KEY keeps the greatest key; a new device's SYNC(0) starts after it`, async () => {
    const a = await on(31);
    for (let i = 1; i <= 4; i++) await a.sendIM({ receiver: 32, content: `m${i}` });
    const b = await on(32, 'first');
    b.syncKey(2);
    b.syncKey(1);
    await b.ping();
    const fresh = await on(32, 'second');
    assert.equal(texts(await fresh.sync(0)), ['m3', 'm4']);
  });

  test(`${engine.name}: a key at the newest gets BEGIN, END(key); a key beyond the newest is corrected`, async () => {
    const a = await on(41);
    await a.sendIM({ receiver: 42, content: 'x' });
    await a.sendIM({ receiver: 42, content: 'y' });
    const b = await on(42);
    const same = await b.sync(2);
    assert.equal([same.messages.length, same.key], [0, 2]);
    const ahead = await b.sync(50);
    assert.equal([ahead.messages.length, ahead.key], [0, 2]);
  });

  test(`${engine.name}: 5000 waiting messages come as a full page of 3000, SYNC_NOTIFY after SYNC_END, then the rest`, async () => {
    const a = await on(51);
    const sends: Promise<unknown>[] = [];
    for (let i = 1; i <= 5000; i++) sends.push(a.sendIM({ receiver: 52, content: `n${i}` }));
    await Promise.all(sends);
    const b = await on(52);
    const after = record<[Frame]>(b, 'frame');
    const first = await b.sync(0);
    assert.is(first.messages.length, 3000);
    assert.equal([texts(first)[0], texts(first)[2999], first.key], ['n1', 'n3000', 3000]);
    const tail = (await after.done()).map(([f]) => f);
    const end = tail.findIndex((f) => f.cmd === Cmd.SYNC_END);
    const notify = tail[end + 1]!;
    assert.is(notify.cmd, Cmd.SYNC_NOTIFY);
    assert.is(decode<{ sync_key: number }>('SYNC_NOTIFY', notify).sync_key, 3001);
    const second = await b.sync(first.key);
    assert.equal([second.messages.length, texts(second)[0], texts(second)[1999], second.key], [2000, 'n3001', 'n5000', 5000]);
  });

  test(`${engine.name}: CUSTOMER_V2 to the customer-service app is in both queues; neither side the kefu app: no ACK, nothing stored`, async () => {
    const c = await on(61);
    const ack = await c.sendCustomer({ senderAppid: APP, receiverAppid: KEFU, receiver: 9, content: 'help' });
    assert.is(ack.status, 0);
    const agent = await on(9, 'desk', KEFU);
    const r = await agent.sync(0);
    assert.equal(r.messages.map((m) => m.cmd), [Cmd.CUSTOMER_V2]);
    assert.equal(texts(await c.sync(0)), ['help']);
    const acks = record(c, 'ack');
    c.post(codecs.CUSTOMER_V2, { sender_appid: APP, sender: 61, receiver_appid: 55, receiver: 9, timestamp: 0, content: Buffer.from('no') });
    assert.is((await acks.done()).length, 0);
    assert.is((await c.sync(0)).messages.length, 1);
  });

  test(`${engine.name}: HTTP posts store and notify: peer (both users), system, customer; RT, room, notification never stored`, async () => {
    const u1 = await on(71);
    const u2 = await on(72);
    const n1 = u1.next('sync_notify');
    const n2 = u2.next('sync_notify');
    const ims = record(u2, 'im');
    assert.is((await post(`/post_peer_message?appid=${APP}&sender=71&receiver=72`, 'posted')).status, 200);
    await Promise.all([n1, n2]);
    assert.is((await ims.done()).length, 0, 'SYNC_NOTIFY only, no IM pushed');
    assert.equal(texts(await u2.sync(0)), ['posted']);
    assert.equal(texts(await u1.sync(0)), ['posted']);
    const s = [u1.next('sync_notify'), u2.next('sync_notify')];
    assert.is((await post('/post_system_message', { appid: APP, receivers: [71, 72], content: 'sys' })).status, 200);
    await Promise.all(s);
    const sys = (await u1.sync(1)).messages;
    assert.equal(sys.map((m) => [m.cmd, (m.body as { content: Buffer }).content.toString()]), [[Cmd.SYSTEM, 'sys']]);
    u1.sendRT({ receiver: 72, content: 'rt' });
    u1.enterRoom(5);
    await u1.ping();
    await u1.sendRoomIM({ room: 5, content: 'room' });
    assert.is((await post(`/post_notification?appid=${APP}&uid=72`, 'note')).status, 200);
    await u1.sendIM({ receiver: 72, content: 'last' });
    const latest = await httpJson(im.httpPort, `/load_latest_message?appid=${APP}&uid=72&limit=2`);
    assert.equal(latest.body.data.map((m: { content: string }) => m.content), ['posted', 'last'], 'SYSTEM is not among the latest; RT, room and notification were never stored');
    assert.equal(latest.body.data[1].command, Cmd.IM);
    const history = await httpJson(im.httpPort, `/load_history_message?appid=${APP}&uid=72&last_id=0`);
    assert.equal(history.body.data.map((m: { content: string }) => m.content), ['posted', 'sys', 'last']);
  });

  test(`${engine.name}: get_offline_count counts what follows a key, or the acknowledged key`, async () => {
    const a = await on(81);
    for (let i = 0; i < 3; i++) await a.sendIM({ receiver: 82, content: `c${i}` });
    const b = await on(82);
    b.syncKey(3);
    await b.ping();
    for (let i = 0; i < 5; i++) await a.sendIM({ receiver: 82, content: `d${i}` });
    assert.equal((await httpJson(im.httpPort, `/get_offline_count?appid=${APP}&uid=82`)).body, { data: { count: 5 } });
    assert.equal((await httpJson(im.httpPort, `/get_offline_count?appid=${APP}&uid=82&sync_key=6`)).body, { data: { count: 2 } });
  });

  const admin = (path: string, body: unknown) => httpJson(im.httpPort, path, { method: 'POST', body: JSON.stringify(body) });
  const group = async (members: number[], superGroup: boolean) => {
    const r = await admin('/create_group', { appid: APP, master: members[0], name: 'g', members, super: superGroup });
    assert.is(r.status, 200, JSON.stringify(r.body));
    return r.body.data.group_id as number;
  };

  test(`${engine.name}: normal group: the sender's ACK has its copy's METADATA; an offline member finds the GROUP_IM in its peer sync`, async () => {
    const gid = await group([91, 92, 93], false);
    const s = await on(91);
    const m2 = await on(92);
    const seen = record<[Frame]>(s, 'frame');
    const live = record<[Frame]>(m2, 'frame');
    const ack = await s.sendGroupIM({ receiver: gid, content: 'to the group' });
    assert.is(ack.status, 0);
    assert.equal((await seen.done()).map(([f]) => f.cmd).filter((c) => c !== Cmd.PONG), [Cmd.METADATA, Cmd.ACK]);
    assert.equal((await live.done(s)).map(([f]) => f.cmd).filter((c) => c !== Cmd.PONG), [Cmd.METADATA, Cmd.GROUP_IM, Cmd.SYNC_NOTIFY]);
    const m3 = await on(93);
    const r = await m3.sync(0);
    assert.equal(r.messages.map((m) => [m.cmd, (m.body as { content: Buffer }).content.toString()]), [[Cmd.GROUP_IM, 'to the group']]);
    const n = m2.next('sync_notify');
    assert.is((await admin('/post_group_notification', { appid: APP, group_id: gid, notification: 'renamed' })).status, 200);
    await n;
    assert.equal((await m3.sync(r.key)).messages.map((m) => m.cmd), [Cmd.GROUP_NOTIFICATION]);
  });

  test(`${engine.name}: super group: METADATA, GROUP_IM (PUSH|SUPER_GROUP), SYNC_GROUP_NOTIFY; ACK flagged SUPER_GROUP; group sync and its key`, async () => {
    const gid = await group([101, 102, 103], true);
    const s = await on(101);
    const m = await on(102);
    const live = record<[Frame]>(m, 'frame');
    const acks = record<[unknown, Frame]>(s, 'ack');
    // Another shard may first load the group from the group source: wait for the notify.
    const notified = m.next('sync_group_notify');
    await s.sendGroupIM({ receiver: gid, content: 'super' });
    await notified;
    const got = (await live.done(s)).map(([f]) => f).filter((f) => f.cmd !== Cmd.PONG);
    assert.equal(cmds(got), [Cmd.METADATA, Cmd.GROUP_IM, Cmd.SYNC_GROUP_NOTIFY]);
    assert.is(got[1]!.flag, Flag.PUSH | Flag.SUPER_GROUP);
    const gn = decode<{ group_id: number; sync_key: number }>('SYNC_GROUP_NOTIFY', got[2]!);
    assert.equal([gn.group_id, gn.sync_key], [gid, 1]);
    assert.is((await acks.done())[0]![1].flag, Flag.SUPER_GROUP);
    const late = await on(103);
    const r = await late.syncGroup(gid, 0);
    assert.equal([texts(r), r.key], [['super'], 1]);
    late.groupSyncKey(gid, 1);
    await late.ping();
    assert.is((await late.syncGroup(gid, 0)).messages.length, 0, 'nothing after the acknowledged key');
    const n = m.next('sync_group_notify');
    assert.is((await admin('/post_group_notification', { appid: APP, group_id: gid, notification: 'super note' })).status, 200);
    await n;
    assert.equal((await late.syncGroup(gid, 1)).messages.map((x) => x.cmd), [Cmd.GROUP_NOTIFICATION]);
  });

  test(`${engine.name}: 150 super-group messages: a group sync gets the newest 100; a non-member gets no reply`, async () => {
    const gid = await group([111, 112], true);
    const s = await on(111);
    const sends: Promise<unknown>[] = [];
    for (let i = 1; i <= 150; i++) sends.push(s.sendGroupIM({ receiver: gid, content: `g${i}` }));
    await Promise.all(sends);
    const r = await (await on(112)).syncGroup(gid, 0);
    assert.equal([r.messages.length, texts(r)[0], texts(r)[99], r.key], [100, 'g51', 'g150', 150]);
    const outsider = await on(119);
    const begins = record(outsider, 'sync_group_begin');
    outsider.post(codecs.SYNC_GROUP, { group_id: gid, sync_key: 0 });
    assert.is((await begins.done()).length, 0);
  });

  test(`${engine.name}: a restart (SIGTERM, then kill -9) keeps every acknowledged message, same keys, same contents`, async () => {
    const a = await on(121);
    for (let i = 1; i <= 20; i++) await a.sendIM({ receiver: 122, content: `keep${i}` });
    const before = await (await on(122)).sync(0);
    for (const c of clients.splice(0)) c.destroy();
    assert.is(await im.stop(), 0);
    im = await startIm(env);
    const after = await (await on(122)).sync(0);
    assert.equal([after.key, texts(after)], [before.key, texts(before)]);
    const x = await on(121);
    const acked: number[] = [];
    const flood = (async () => {
      for (let i = 1; i <= 2000; i++) {
        try {
          await x.sendIM({ receiver: 123, content: `k${i}` });
          acked.push(i);
        } catch { return; }
      }
    })();
    while (acked.length < 200) await new Promise((r) => setTimeout(r, 5));
    await im.kill();
    await flood;
    for (const c of clients.splice(0)) c.destroy();
    im = await startIm(env);
    const got = new Set<string>();
    const r = await (await on(123)).sync(0);
    for (const t of texts(r)) {
      assert.not.ok(got.has(t), `${t} once`);
      got.add(t);
    }
    for (const i of acked) assert.ok(got.has(`k${i}`), `acknowledged k${i} survived kill -9`);
  });

  test.run();
}
