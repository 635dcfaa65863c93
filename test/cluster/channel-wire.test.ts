import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { ImClient } from '../../src/client/index.ts';
import { Cmd, FrameDecoder, Platform, ROUTER_CMDS, codecByCmd, codecs, encodeFrame, type Frame } from '../../src/protocol/index.ts';
import { eventually, httpJson, startProcess } from '../helpers/process.ts';
import { startIm, type Im } from '../helpers/im.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { loud } from '../helpers/loud.ts';

/** Recorded where the router took a new connection: what it knew of the old one is gone. */
const NEW_LINK = -1;

/** A router that only records what the access server's Channel writes to it. */
class FakeRouter {
  readonly server = net.createServer((s) => this.#accept(s));
  readonly frames: { cmd: number; body: Record<string, unknown> }[] = [];
  socket: net.Socket | undefined;
  seqs: number[] = [];
  #accept(s: net.Socket): void {
    this.socket = s;
    this.frames.push({ cmd: NEW_LINK, body: {} });
    const d = new FrameDecoder({ accept: ROUTER_CMDS });
    s.on('data', (c: Buffer) => d.push(c, (f: Frame) => {
      this.seqs.push(f.seq);
      this.frames.push({ cmd: f.cmd, body: codecByCmd[f.cmd]!.forVersion(0).decode(f.body, 0, f.body.length) as Record<string, unknown> });
    }));
    s.on('error', () => {});
  }
  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }
  /**
   * Subscription frames as compact strings, e.g. "SUB 5/1 on", "UNSUB 5/1", "ROOM+ 5/9";
   * the fences' (their own app) and each new link ("LINK") only with `fences`.
   */
  subs(fences = false): string[] {
    return this.frames.flatMap(({ cmd, body: b }) => {
      if (cmd === NEW_LINK) return fences ? ['LINK'] : [];
      if (b.appid === FENCE_APP && !fences) return [];
      if (cmd === Cmd.SUBSCRIBE) return [`SUB ${b.appid}/${b.uid} ${b.online ? 'on' : 'off'}`];
      if (cmd === Cmd.UNSUBSCRIBE) return [`UNSUB ${b.appid}/${b.uid}`];
      if (cmd === Cmd.SUBSCRIBE_ROOM) return [`ROOM+ ${b.appid}/${b.room_id}`];
      if (cmd === Cmd.UNSUBSCRIBE_ROOM) return [`ROOM- ${b.appid}/${b.room_id}`];
      return [];
    });
  }
}

let redis: RedisServer;
const fake = new FakeRouter();
let im: Im;
/** One client on each of the two shards, whose room entries fence what the Channel wrote before. */
let fences: ImClient[] = [];
const FENCE_APP = 6;
let fenceRoom = 0;

/**
 * Everything each shard reported to the Channel before now has reached the router: each
 * shard's items are written in the order the shard made them, so a room entered on each
 * shard, once seen, comes after them all.
 */
async function fence(): Promise<void> {
  const rooms = fences.map((c) => {
    c.enterRoom(++fenceRoom);
    return `ROOM+ ${FENCE_APP}/${fenceRoom}`;
  });
  await eventually(() => rooms.every((r) => fake.subs(true).includes(r)), 5000, 'fence rooms reached the router');
}

test.before(loud(async () => {
  redis = await startRedis();
  const port = await fake.listen();
  im = await startIm({ IM_SHARDS: '2', IM_AUTH: 'redis', IM_REDIS_URL: redis.url, IM_ROUTE_ADDRS: `127.0.0.1:${port}` });
  await eventually(() => fake.socket !== undefined, 5000, 'channel connected');
  // Connected one after the other, each goes to the shard with the fewest: one a shard.
  fences = [await device(1, Platform.ANDROID, 'fence0', FENCE_APP), await device(2, Platform.ANDROID, 'fence1', FENCE_APP)];
  const { body } = await httpJson(im.httpPort, '/summary');
  assert.equal(body.shards.map((s: { connections: number }) => s.connections), [1, 1], 'a fence on each shard');
}));

test.after(loud(async () => {
  await im?.stop();
  fake.server.close();
  await redis?.stop();
}));

async function device(uid: number, platform: number, token: string, appid = 5): Promise<ImClient> {
  await redis.client.hset(`access_token_${token}`, { user_id: String(uid), app_id: String(appid) });
  const c = await ImClient.connect({ port: im.port, uid });
  assert.is(await c.auth({ token, platform, deviceId: token }), 0);
  return c;
}

test('every transition row of the Channel rules, as written to the router', async () => {
  // uid 1 wants notifications on desktop/web: its web connections are not "online" for push.
  await redis.client.hset('users_5_1', { notification_on: '1' });
  let mark = fake.subs().length;
  const next = async (expect: string[], anyOrder = false) => {
    await fence();
    const got = fake.subs().slice(mark);
    assert.equal(anyOrder ? got.sort() : got, anyOrder ? expect.sort() : expect);
    mark = fake.subs().length;
  };
  const web1 = await device(1, Platform.WEB, 'w1');
  await next(['SUB 5/1 off']); // first connection (offline)
  const web2 = await device(1, Platform.WEB, 'w2');
  await next([]); // second device, online half unchanged
  const phone = await device(1, Platform.ANDROID, 'p1');
  await next(['SUB 5/1 on']); // first online connection joins offline ones
  await phone.close();
  await next(['SUB 5/1 off']); // last online connection leaves while others remain
  await web1.close();
  await next([]);
  await web2.close();
  await next(['UNSUB 5/1']); // last connection leaves

  const a = await device(2, Platform.ANDROID, 'r1');
  const b = await device(3, Platform.IOS, 'r2');
  await next(['SUB 5/2 on', 'SUB 5/3 on'], true);
  a.enterRoom(9);
  await a.ping();
  await next(['ROOM+ 5/9']); // 0 → 1
  b.enterRoom(9);
  await b.ping();
  await next([]); // 1 → 2
  b.leaveRoom(9);
  await b.ping();
  await next([]); // 2 → 1
  a.leaveRoom(9);
  await a.ping();
  await next(['ROOM- 5/9']); // 1 → 0

  a.enterRoom(10);
  await a.ping();
  await next(['ROOM+ 5/10']);
  // The router goes away and comes back: everything counted is re-subscribed, then traffic.
  const seqsBefore = fake.seqs.length;
  fake.socket!.destroy();
  fake.socket = undefined;
  await eventually(() => fake.socket !== undefined, 3000, 'reconnected');
  await next(['SUB 5/2 on', 'SUB 5/3 on', 'ROOM+ 5/10'], true); // in table-scan order
  assert.equal(fake.seqs.slice(seqsBefore, seqsBefore + 3), [1, 2, 3], 'a new connection numbers its frames from 1');
  await a.close();
  await b.close();
  await next(['ROOM- 5/10', 'UNSUB 5/2', 'UNSUB 5/3'], true);
});

test('publish frames carry the route message the router expects', async () => {
  const a = await device(7, Platform.ANDROID, 'p7');
  const before = fake.frames.length;
  await a.sendIM({ receiver: 8, content: 'to a user on another server' });
  await eventually(() => fake.frames.slice(before).some((f) => f.cmd === Cmd.PUSH), 2000);
  const pub = fake.frames.slice(before).find((f) => f.cmd === Cmd.PUBLISH)!.body;
  assert.equal([pub.appid, pub.receiver], [5, 8]);
  const ts = Number(pub.timestamp as bigint) / 1e6;
  assert.ok(Math.abs(ts - Date.now()) < 5000, 'timestamp is wall-clock nanoseconds');
  const inner = (pub.message as Buffer);
  assert.is(inner[8], Cmd.IM);
  const push = fake.frames.slice(before).find((f) => f.cmd === Cmd.PUSH)!.body;
  assert.equal(push.receivers, [8], 'uid 8 is online nowhere here: offline push asked of the router');
  // The whole IM as the receiver would get it: header (cmd, version, FLAG_PUSH), then its body.
  const pushed = push.message as Buffer;
  assert.equal([push.appid, pushed.readInt32BE(0), pushed[8], pushed[9], pushed[10]! & 0x10], [5, pushed.length - 12, Cmd.IM, 2, 0x10]);
  const body = codecs.IM.forVersion(2).decode(pushed, 12, pushed.length) as { sender: number; receiver: number; content: Buffer };
  assert.equal([body.sender, body.receiver, body.content.toString()], [7, 8, 'to a user on another server']);
  // And a publish coming back from the router reaches the user's connection with FLAG_PUSH kept.
  const got = a.next('im');
  const msg = encodeFrame(codecs.IM, { sender: 8, receiver: 7, timestamp: 1, msgid: 3, content: Buffer.from('from afar') }, 0, 2, 0x10);
  fake.socket!.write(encodeFrame(codecs.PUBLISH, { appid: 5, receiver: 7, msgid: 0, device_id: 0, timestamp: 0n, message: msg }, 1, 0));
  const [m, f] = await got;
  assert.equal([m.sender, m.content.toString(), f.flag & 0x10], [8, 'from afar', 0x10]);
  await a.close();
});

test('a server that stops leaves the router holding nothing of it: the last logouts of every shard go out before the link closes', async () => {
  const devices = [];
  for (let uid = 40; uid < 46; uid++) devices.push(await device(uid, Platform.ANDROID, `s${uid}`));
  devices[0]!.enterRoom(11);
  devices[1]!.enterRoom(11);
  await fence();
  const closed = once(fake.socket!, 'close');
  assert.is(await im.stop(), 0);
  await closed;
  // Replayed in order, what the router was told leaves no user and no room of either app.
  const held = new Set<string>();
  for (const line of fake.subs(true)) {
    if (line === 'LINK') {
      held.clear();
      continue;
    }
    const [what, key] = line.split(' ') as [string, string];
    if (what === 'SUB' || what === 'ROOM+') held.add(`${what === 'SUB' ? 'user' : 'room'} ${key}`);
    else held.delete(`${what === 'UNSUB' ? 'user' : 'room'} ${key}`);
  }
  assert.equal([...held], []);
});

test('two routers: PUBLISH goes to routers[abs(uid) % 2]; messages arrive', async () => {
  const r = await Promise.all([0, 1].map(() => startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' })));
  const addrs = r.map((x) => `127.0.0.1:${x.ready.port}`).join(',');
  const [s1, s2] = await Promise.all([startIm({ IM_SHARDS: '1', IM_ROUTE_ADDRS: addrs }), startIm({ IM_SHARDS: '1', IM_ROUTE_ADDRS: addrs })]);
  try {
    const { login } = await import('../helpers/im.ts');
    const sender = await login(s1, 5, 100);
    const even = await login(s2, 5, 200);
    const odd = await login(s2, 5, 201);
    for (const x of r) await eventually(async () => ((await httpJson(x.ready.httpPort as number, '/all_online')).body[0]?.users.length ?? 0) === 3, 3000, 'every router knows every user (no group routers configured)');
    const ge = even.next('im');
    const go = odd.next('im');
    await sender.sendIM({ receiver: 200, content: 'even' });
    await sender.sendIM({ receiver: 201, content: 'odd' });
    assert.is((await ge)[0].content.toString(), 'even');
    assert.is((await go)[0].content.toString(), 'odd');
    const publishes = await Promise.all(r.map(async (x) => {
      const text = (await httpJson(x.ready.httpPort as number, '/metrics')).body as string;
      return Number(/imr_frames_out_total\{cmd="PUBLISH"\} (\d+)/.exec(text)?.[1] ?? 0);
    }));
    // To 200 via router 0 and to 201 via router 1; the sender's own copies follow uid 100 (router 0).
    assert.ok(publishes[0]! >= 1 && publishes[1]! >= 1, `both routers carried publishes: ${publishes}`);
    for (const c of [sender, even, odd]) await c.close();
  } finally {
    await s1.stop();
    await s2.stop();
    for (const x of r) await x.stop();
  }
});

test.run();
