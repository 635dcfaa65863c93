/**
 * The group suite, run once against the embedded SQLite source and once against a real
 * MariaDB with GoBelieve's schema (groups-sqlite.test.ts, groups-mariadb.test.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImClient } from '../../src/client/index.ts';
import { AckStatus, Flag } from '../../src/protocol/index.ts';
import { eventually, httpJson, startProcess, type Started } from '../helpers/process.ts';
import { login, record, startIm, type Im } from '../helpers/im.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { loud } from '../helpers/loud.ts';

export interface SourceUnderTest {
  name: string;
  /** Environment that selects the source; the same for every server of the test. */
  env(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

const APP = 4;

export function groupSuite(source: SourceUnderTest): void {
  let redis: RedisServer;
  let imr: Started;
  let a: Im, b: Im;
  const clients: ImClient[] = [];
  const on = async (im: Im, uid: number, deviceId?: string) => {
    const c = await login(im, APP, uid, { deviceId });
    clients.push(c);
    return c;
  };
  const admin = (im: Im, path: string, body: unknown) =>
    httpJson(im.httpPort, path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const create = async (members: number[], superGroup = false) => {
    const r = await admin(a, '/create_group', { appid: APP, master: members[0], name: 'g', members, super: superGroup });
    assert.is(r.status, 200, JSON.stringify(r.body));
    return r.body.data.group_id as number;
  };

  test.before(loud(async () => {
    redis = await startRedis();
    imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
    const env = { ...(await source.env()), IM_SHARDS: '3', IM_REDIS_URL: redis.url, IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}` };
    // One after the other: if one fails to start, the other is already known to test.after.
    a = await startIm(env);
    b = await startIm(env);
  }));

  test.after(loud(async () => {
    for (const c of clients) c.destroy();
    await a?.stop();
    await b?.stop();
    await imr?.stop();
    await redis?.stop();
    await source.stop();
  }));

  test(`${source.name}: normal group reaches every member connection on every shard and server, never the sending one`, async () => {
    const s1 = await on(a, 1, 's1');
    const s2 = await on(a, 1, 's2');
    const m = [await on(a, 2), await on(a, 3), await on(a, 4), await on(b, 5), await on(b, 6, 'b6a'), await on(b, 6, 'b6b')];
    const outsider = await on(a, 9);
    const gid = await create([1, 2, 3, 4, 5, 6]);
    await eventually(async () => ((await httpJson(imr.ready.httpPort as number, '/all_online')).body[0]?.users.length ?? 0) >= 7);
    const got = [s1, s2, ...m, outsider].map((c) => record<[{ sender: number; receiver: number; content: Buffer }, { flag: number }]>(c, 'group_im'));
    const ack = await s1.sendGroupIM({ receiver: gid, content: 'hello group' });
    assert.is(ack.status, AckStatus.OK);
    // The sending connection is fenced by its PING; every other by an RT from it along the group's path.
    const g1 = await got[0]!.done();
    const [g2, ...rest] = await Promise.all(got.slice(1).map((r) => r.until(s1)));
    const gOut = rest.pop()!;
    assert.is(g1!.length, 0, 'not to the sending connection');
    assert.is(g2!.length, 1, 'the sender\'s other device gets it');
    for (const g of rest) {
      assert.is(g!.length, 1, 'one copy per member connection');
      assert.equal([g![0]![0].sender, g![0]![0].receiver, g![0]![0].content.toString()], [1, gid, 'hello group']);
      assert.ok(g![0]![1].flag & Flag.PUSH);
      assert.not.ok(g![0]![1].flag & Flag.SUPER_GROUP);
    }
    assert.is(gOut!.length, 0, 'not to a non-member');
  });

  test(`${source.name}: ACK 65 for an unknown group, 64 for a non-member; a muted member is dropped with ACK 0`, async () => {
    const x = await on(a, 11);
    const y = await on(b, 12);
    const gid = await create([11, 12]);
    assert.is((await x.sendGroupIM({ receiver: 987654, content: 'nowhere' })).status, AckStatus.GROUP_NONEXISTENT);
    const stranger = await on(a, 13);
    assert.is((await stranger.sendGroupIM({ receiver: gid, content: 'not mine' })).status, AckStatus.NOT_GROUP_MEMBER);
    assert.is((await admin(a, '/mute_group_member', { appid: APP, group_id: gid, uid: 11, mute: true })).status, 200);
    const muted = record(y, 'group_im');
    assert.is((await x.sendGroupIM({ receiver: gid, content: 'muted' })).status, AckStatus.OK);
    assert.is((await muted.until(x)).length, 0);
    await admin(b, '/mute_group_member', { appid: APP, group_id: gid, uid: 11, mute: false });
    // Server B's change reaches server A through Redis, in its own time: send until it has.
    const heard = record<[{ content: Buffer }]>(y, 'group_im');
    await eventually(async () => {
      await x.sendGroupIM({ receiver: gid, content: 'unmuted' });
      await y.ping();
      return heard.got.length > 0;
    }, 10_000, 'the unmute reached server A');
    assert.is((await heard.done())[0]![0].content.toString(), 'unmuted');
  });

  test(`${source.name}: membership changes take effect on every shard, and on the other server, by the next message`, async () => {
    const owner = await on(a, 21);
    const late = [await on(a, 22), await on(a, 22), await on(a, 22), await on(b, 22)];
    const gid = await create([21]);
    const none = late.map((c) => record(c, 'group_im'));
    await owner.sendGroupIM({ receiver: gid, content: 'before' });
    for (const r of none) assert.is((await r.until(owner)).length, 0);
    // Changed through server B: server A's shards must see it before the next message.
    assert.is((await admin(b, '/add_group_member', { appid: APP, group_id: gid, members: [22] })).status, 200);
    // The Redis notice reaches server A in its own time: send until every device has one.
    const some = late.map((c) => record<[{ content: Buffer }]>(c, 'group_im'));
    await eventually(async () => {
      await owner.sendGroupIM({ receiver: gid, content: 'after add' });
      for (const c of late) await c.ping();
      return some.every((r) => r.got.length > 0);
    }, 10_000, 'the new member reached on both servers');
    for (const r of some) await r.done();
    assert.is((await admin(a, '/remove_group_member', { appid: APP, group_id: gid, members: [22] })).status, 200);
    const gone = late.map((c) => record(c, 'group_im'));
    await owner.sendGroupIM({ receiver: gid, content: 'after remove' });
    for (const r of gone) assert.is((await r.until(owner)).length, 0);
    assert.is((await admin(a, '/disband_group', { appid: APP, group_id: gid })).status, 200);
    assert.is((await owner.sendGroupIM({ receiver: gid, content: 'disbanded' })).status, AckStatus.GROUP_NONEXISTENT);
  });

  test(`${source.name}: super group: one PUBLISH_GROUP, every server delivers to its own members, SUPER_GROUP flags`, async () => {
    const s = await on(a, 31);
    const members = [await on(a, 32), await on(b, 33), await on(b, 34)];
    const gid = await create([31, 32, 33, 34]);
    assert.is((await admin(a, '/upgrade_group', { appid: APP, group_id: gid })).status, 200);
    const got = members.map((c) => c.next('group_im'));
    const ack = await s.sendGroupIM({ receiver: gid, content: 'super' });
    assert.is(ack.status, 0);
    for (const [m, f] of await Promise.all(got)) {
      assert.is(m.content.toString(), 'super');
      assert.ok(f.flag & Flag.SUPER_GROUP && f.flag & Flag.PUSH);
    }
    const acks = s.next('ack');
    s.post((await import('../../src/protocol/index.ts')).codecs.GROUP_IM, { sender: 31, receiver: gid, timestamp: 0, msgid: 1, content: Buffer.from('x') });
    assert.ok(((await acks)[1].flag & Flag.SUPER_GROUP) !== 0, 'the ACK carries SUPER_GROUP');
  });

  test(`${source.name}: POST /post_group_message uses the group source`, async () => {
    const m = await on(b, 41);
    const gid = await create([40, 41]);
    // Posted on server A: live only once the router knows that server B holds user 41.
    await eventually(async () => ((await httpJson(imr.ready.httpPort as number, '/all_online')).body as { appid: number; users: number[] }[])
      .some((x) => x.appid === APP && x.users.includes(41)), 10_000, 'the router knows user 41');
    const got = m.next('group_im');
    const r = await httpJson(a.httpPort, `/post_group_message?appid=${APP}&sender=40&receiver=${gid}`, { method: 'POST', body: 'from http' });
    assert.is(r.status, 200, JSON.stringify(r.body));
    assert.is((await got)[0].content.toString(), 'from http');
    const bad = await httpJson(a.httpPort, `/post_group_message?appid=${APP}&sender=99&receiver=${gid}`, { method: 'POST', body: 'x' });
    assert.is(bad.status, 400);
  });

  test(`${source.name}: bad admin input gets 400 (or 404 for unknown groups) and changes nothing`, async () => {
    for (const body of [{ appid: 'x', master: 1 }, { appid: APP }, { appid: APP, master: 1, members: 'nope' }, { appid: APP, master: 1, members: [1.5] }]) {
      const r = await admin(a, '/create_group', body);
      assert.is(r.status, 400, JSON.stringify(body));
      assert.is(r.body.meta.code, 400);
    }
    const huge = await admin(a, '/create_group', { appid: APP, master: 1, members: Array.from({ length: 10_001 }, (_, i) => i) });
    assert.is(huge.status, 400);
    assert.match(huge.body.meta.message, /at most 10000/);
    assert.is((await admin(a, '/add_group_member', { appid: APP, group_id: 'abc', members: [1] })).status, 400);
    assert.is((await admin(a, '/add_group_member', { appid: APP, group_id: 99_999_999, members: [1] })).status, 404);
    const raw = await httpJson(a.httpPort, '/create_group', { method: 'POST', body: '{not json' });
    assert.is(raw.status, 400);
    assert.is((await httpJson(a.httpPort, `/post_group_message?appid=${APP}&sender=1&receiver=zz`, { method: 'POST', body: 'x' })).status, 400);
  });
}

/** A fresh SQLite file shared by the servers of one test file. */
export function sqliteFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'im-groups-')), 'groups.db');
}
