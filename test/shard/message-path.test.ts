/**
 * The one path of stored messages, in-process: a real Routing and Delivery over a real
 * subscriber table and Routes, with a fake store (keys per queue, or a failure) and a fake
 * Channel that records what would go to the routers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { Cmd, Flag, type OutFrame } from '../../src/protocol/index.ts';
import { AppRoute } from '../../src/route/index.ts';
import { SubscriberTable } from '../../src/subscribers/index.ts';
import type { Group } from '../../src/groups/source.ts';
import { QueueKind, type SaveItem, type Saved } from '../../src/store/types.ts';
import type { ChannelSink } from '../../src/threads/channel-port.ts';
import type { Connection } from '../../src/shard/connection.ts';
import { Delivery } from '../../src/shard/delivery.ts';
import { Kinds, Tell } from '../../src/shard/kinds.ts';
import { MessagePath, type Outgoing, type Save } from '../../src/shard/message-path.ts';
import { Routing } from '../../src/shard/routing.ts';
import { emptyShardStats } from '../../src/shard/stats.ts';

const APP = 7;

/** A client connection as the path sees it: what it was sent, what it has waiting for the store. */
class FakeConn {
  static #next = 1;
  readonly id = FakeConn.#next++;
  readonly sent: OutFrame[] = [];
  readonly version = 2;
  readonly dead = false;
  readonly appid: number;
  readonly uid: number;
  readonly deviceId: string;
  readonly deviceNo: number;
  waiting = 0;
  constructor(appid: number, uid: number, deviceId: string, deviceNo: number) {
    this.appid = appid;
    this.uid = uid;
    this.deviceId = deviceId;
    this.deviceNo = deviceNo;
  }
  send(f: OutFrame): void { this.sent.push(f); }
  later<T>(_cmd: number, fn: (v: T) => void): (v: T) => void { return fn; }
  saving(bytes: number): void { this.waiting += bytes; }
  saved(bytes: number): void { this.waiting -= bytes; }
}

type Recorded = { what: string; appid: number; ids: number[]; keys?: number[]; cmd: number; flag: number };

class FakeChannel implements ChannelSink {
  readonly linked = true;
  readonly out: Recorded[] = [];
  transition(): void {}
  publish(cmd: number, appid: number, receiver: number, msgid: number, msg: OutFrame): void {
    this.out.push({ what: `publish ${cmd}`, appid, ids: [receiver], keys: [msgid], cmd: msg.cmd, flag: msg.flag });
  }
  publishEach(appid: number, receivers: readonly number[], msgids: readonly number[], msg: OutFrame): void {
    this.out.push({ what: 'publishEach', appid, ids: [...receivers], keys: [...msgids], cmd: msg.cmd, flag: msg.flag });
  }
  push(appid: number, receivers: readonly number[], msg: OutFrame): void {
    this.out.push({ what: 'push', appid, ids: [...receivers], cmd: msg.cmd, flag: msg.flag });
  }
}

/** Keys per queue, 1, 2, 3…, as the engines hand them out; `fail` makes the next saves reject. */
class FakeStore {
  readonly keys = new Map<string, number>();
  readonly batches: SaveItem[][] = [];
  fail = false;
  readonly save: Save = async ({ items }) => {
    await Promise.resolve();
    if (this.fail) throw new Error('disk on fire');
    this.batches.push(items);
    return items.map((it): Saved => {
      const q = `${it.appid}/${it.kind}/${it.owner}`;
      const prev = this.keys.get(q) ?? 0;
      this.keys.set(q, prev + 1);
      return { key: prev + 1, prev };
    });
  };
}

function world(storeOn: boolean) {
  const table = SubscriberTable.create(64);
  const routes = new AppRoute<Connection>();
  const groups = new Map<number, Group>();
  const delivery = new Delivery(0, table, routes, [], { withGroup: (_a, gid, then) => then(groups.get(gid) ?? null) });
  const channel = new FakeChannel();
  const routing = new Routing(delivery, table, () => channel);
  const store = new FakeStore();
  const stats = emptyShardStats();
  const path = new MessagePath(routing, storeOn ? store.save : null, stats, pino({ level: 'silent' }));
  const online = (appid: number, uid: number, device = 'd', deviceNo = 1): FakeConn => {
    const c = new FakeConn(appid, uid, `${device}${uid}`, deviceNo);
    routes.findOrAddRoute(appid).addClient(c as unknown as Connection);
    table.addUser(appid, uid, true, 0, true);
    return c;
  };
  const group = (id: number, members: number[], isSuper: boolean): Group => {
    const g = { id, appid: APP, master: members[0]!, super: isSuper, members: new Map(members.map((u) => [u, false])) };
    groups.set(id, g);
    return g;
  };
  return { path, store, channel, stats, online, group };
}

const BODY = Buffer.from('a body in the v2 layout');
const client = (c: FakeConn, seq = 9) => ({ appid: c.appid, sender: c.uid, deviceNo: c.deviceNo, body: BODY, flag: 0, from: c as unknown as Connection, seq });
const api = (sender: number) => ({ appid: APP, sender, deviceNo: 0, body: BODY, flag: 0, from: null, seq: 0 });
const cmds = (c: FakeConn) => c.sent.map((f) => f.cmd);
const flush = () => new Promise((r) => setImmediate(r));

test('a client IM: saved to the receiver then the sender, METADATA with each copy, SELF on the sender\'s other device, push for none, ACK last', async () => {
  const w = world(true);
  const alice = w.online(APP, 1);
  const alice2 = w.online(APP, 1, 'phone', 2);
  const bob = w.online(APP, 2);
  await w.path.send({ kind: Kinds.IM, ...client(alice), to: { user: 2, appid: APP } });
  assert.equal(w.store.batches[0]!.map((it) => [it.owner, it.kind, it.cmd, it.deviceId]), [[2, QueueKind.USER, Cmd.IM, 1], [1, QueueKind.USER, Cmd.IM, 1]]);
  assert.equal(bob.sent, [{ cmd: Cmd.IM, flag: Flag.PUSH, body: BODY, meta: { key: 1, prev: 0, notify: true, gid: 0 } }]);
  assert.equal(alice2.sent, [{ cmd: Cmd.IM, flag: Flag.PUSH | Flag.SELF, body: BODY, meta: { key: 1, prev: 0, notify: true, gid: 0 } }]);
  assert.equal(cmds(alice), [Cmd.ACK], 'the sender only gets its ACK');
  assert.equal(alice.sent[0]!.meta, { key: 1, prev: 0, notify: false, gid: 0 });
  assert.equal(w.channel.out.map((r) => [r.what, r.ids, r.keys, r.flag]), [
    [`publish ${Cmd.PUBLISH}`, [2], [1], Flag.PUSH],
    [`publish ${Cmd.PUBLISH}`, [1], [1], Flag.PUSH | Flag.SELF],
  ], 'both copies go to the routers with their keys; nobody is pushed (both online)');
  assert.is(alice.waiting, 0, 'what it had waiting for the store is released');
});

test('a client IM to a receiver online nowhere is pushed; to oneself it is one queue, one copy, never SELF', async () => {
  const w = world(true);
  const alice = w.online(APP, 1);
  const alice2 = w.online(APP, 1, 'phone', 2);
  await w.path.send({ kind: Kinds.IM, ...client(alice), to: { user: 3, appid: APP } });
  assert.equal(w.channel.out.filter((r) => r.what === 'push').map((r) => [r.ids, r.cmd]), [[[3], Cmd.IM]]);
  await w.path.send({ kind: Kinds.IM, ...client(alice, 10), to: { user: 1, appid: APP } });
  assert.is(w.store.batches[1]!.length, 1);
  assert.equal(alice2.sent.at(-1), { cmd: Cmd.IM, flag: Flag.PUSH, body: BODY, meta: { key: 2, prev: 1, notify: true, gid: 0 } });
  assert.equal(alice.sent.at(-1)!.meta, { key: 2, prev: 1, notify: false, gid: 0 }, 'the ACK names the one copy');
});

test('a failed save: nothing delivered, published, pushed or acknowledged; the client may send again', async () => {
  const w = world(true);
  const alice = w.online(APP, 1);
  const bob = w.online(APP, 2);
  w.store.fail = true;
  await w.path.send({ kind: Kinds.IM, ...client(alice), to: { user: 2, appid: APP } });
  await w.path.send({ kind: Kinds.GROUP_IM, ...client(alice), to: { group: w.group(5, [1, 2], false) } });
  assert.equal([alice.sent, bob.sent, w.channel.out], [[], [], []]);
  assert.is(w.stats.storeFailures, 2);
  assert.is(alice.waiting, 0);
  const posted = await w.path.send({ kind: Kinds.POSTED_IM, ...api(1), to: { user: 2, appid: APP } }).then(() => 'delivered', (err: Error) => err.message);
  assert.is(posted, 'disk on fire', 'an HTTP post fails');
  assert.equal([bob.sent, w.channel.out], [[], []]);
});

test('the store off: delivered in the turn it was sent, no METADATA, ACK without a key', () => {
  const w = world(false);
  const alice = w.online(APP, 1);
  const bob = w.online(APP, 2);
  void w.path.send({ kind: Kinds.IM, ...client(alice), to: { user: 2, appid: APP } });
  assert.equal(bob.sent, [{ cmd: Cmd.IM, flag: Flag.PUSH, body: BODY }]);
  assert.equal(alice.sent, [{ cmd: Cmd.ACK, flag: 0, body: alice.sent[0]!.body }]);
  assert.is(alice.waiting, 0);
});

test('CUSTOMER_V2 crosses apps: the receiver in its own app, the sender\'s copy in the sender\'s', async () => {
  const w = world(true);
  const kefu = w.online(99, 1);
  const customer = w.online(APP, 1);
  const kefu2 = w.online(99, 1, 'desk', 3);
  await w.path.send({ kind: Kinds.CUSTOMER, ...client(kefu), to: { user: 1, appid: APP } });
  assert.equal(w.store.batches[0]!.map((it) => [it.appid, it.owner]), [[APP, 1], [99, 1]]);
  assert.equal(customer.sent.map((f) => f.flag), [Flag.PUSH]);
  assert.equal(kefu2.sent.map((f) => f.flag), [Flag.PUSH | Flag.SELF]);
  assert.equal(cmds(kefu), [Cmd.ACK]);
});

test('a normal group: every member\'s own queue and key, one hand-over to the routers, push to the offline members but the sender', async () => {
  const w = world(true);
  const alice = w.online(APP, 1);
  const bob = w.online(APP, 2);
  const g = w.group(5, [1, 2, 3, 4], false);
  await w.path.send({ kind: Kinds.GROUP_IM, ...client(alice), to: { group: g } });
  assert.equal(w.store.batches[0]!.map((it) => it.owner), [1, 2, 3, 4]);
  assert.equal(bob.sent, [{ cmd: Cmd.GROUP_IM, flag: Flag.PUSH, body: BODY, meta: { key: 1, prev: 0, notify: true, gid: 0 } }]);
  assert.equal(w.channel.out.map((r) => [r.what, r.ids, r.keys]), [['publishEach', [1, 2, 3, 4], [1, 1, 1, 1]], ['push', [3, 4], undefined]]);
  assert.equal(cmds(alice), [Cmd.ACK]);
  assert.is(alice.sent[0]!.flag, 0);
  assert.equal(alice.sent[0]!.meta, { key: 1, prev: 0, notify: false, gid: 0 });
});

test('a super group: one queue, the group\'s key in METADATA, SUPER_GROUP on the copies and the ACK, one PUBLISH_GROUP', async () => {
  const w = world(true);
  const alice = w.online(APP, 1);
  const bob = w.online(APP, 2);
  const g = w.group(6, [1, 2, 3], true);
  await w.path.send({ kind: Kinds.GROUP_IM, ...client(alice), to: { group: g } });
  assert.equal(w.store.batches[0]!.map((it) => [it.kind, it.owner]), [[QueueKind.GROUP, 6]]);
  assert.equal(bob.sent, [{ cmd: Cmd.GROUP_IM, flag: Flag.PUSH | Flag.SUPER_GROUP, body: BODY, meta: { key: 1, prev: 0, notify: true, gid: 6 } }]);
  assert.equal(w.channel.out.map((r) => [r.what, r.ids, r.keys]), [[`publish ${Cmd.PUBLISH_GROUP}`, [6], [1]], ['push', [3], undefined]]);
  assert.equal([alice.sent.length, alice.sent[0]!.cmd, alice.sent[0]!.flag], [1, Cmd.ACK, Flag.SUPER_GROUP]);
});

test('the store off, a normal group goes whole to every shard and server, as a super group does', () => {
  const w = world(false);
  const alice = w.online(APP, 1);
  const bob = w.online(APP, 2);
  void w.path.send({ kind: Kinds.GROUP_IM, ...client(alice), to: { group: w.group(5, [1, 2, 3], false) } });
  assert.equal(bob.sent, [{ cmd: Cmd.GROUP_IM, flag: Flag.PUSH, body: BODY }]);
  assert.equal(w.channel.out.map((r) => [r.what, r.ids]), [['publishEach', [1, 2, 3]], ['push', [3]]]);
  assert.equal(cmds(alice), [Cmd.ACK]);
});

test('what the HTTP API posts: the receivers are told SYNC_NOTIFY, the offline ones pushed the message itself', async () => {
  const w = world(true);
  const alice = w.online(APP, 1);
  const bob = w.online(APP, 2);
  await w.path.send({ kind: Kinds.POSTED_IM, ...api(1), to: { user: 2, appid: APP } });
  assert.equal([cmds(bob), cmds(alice)], [[Cmd.SYNC_NOTIFY], [Cmd.SYNC_NOTIFY]], 'the sender\'s devices sync their copy too');
  await w.path.send({ kind: Kinds.SYSTEM, ...api(0), to: { users: [2, 8] } });
  assert.equal(cmds(bob), [Cmd.SYNC_NOTIFY, Cmd.SYNC_NOTIFY]);
  assert.equal(w.channel.out.filter((r) => r.what === 'push').map((r) => [r.ids, r.cmd, r.flag]), [[[8], Cmd.SYSTEM, Flag.PUSH]]);
  const sg = w.group(6, [1, 2], true);
  await w.path.send({ kind: Kinds.GROUP_NOTIFICATION, ...api(0), to: { group: sg } });
  assert.equal(bob.sent.at(-1)!.cmd, Cmd.SYNC_GROUP_NOTIFY);
  assert.is(w.channel.out.filter((r) => r.what === 'push').length, 1, 'group notifications are not pushed');
});

test('every kind: saved under its cmd; with the store off relayed as the message itself, never a notification', async () => {
  for (const [name, kind] of Object.entries(Kinds)) {
    for (const storeOn of [true, false]) {
      const w = world(storeOn);
      const bob = w.online(APP, 2);
      const to = kind.cmd === Cmd.GROUP_IM ? { group: w.group(5, [1, 2], false) } : { user: 2, appid: APP };
      await w.path.send({ kind, ...api(1), to } as Outgoing);
      if (storeOn) assert.ok(w.store.batches[0]!.every((it) => it.cmd === kind.cmd), name);
      const expected = storeOn && kind.tell === Tell.NOTIFY ? Cmd.SYNC_NOTIFY : kind.cmd;
      assert.equal(cmds(bob), [expected], `${name}, store ${storeOn ? 'on' : 'off'}`);
    }
  }
  await flush();
});

test.run();
