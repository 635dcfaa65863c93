import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kind, Ledger, SubscriberTable, Transition } from '../../src/subscribers/index.ts';
import { CountingTable } from '../../src/shard/presence.ts';
import { releaseShard } from '../../src/server/release.ts';

test('releasing a dead shard takes out exactly its share and reports each transition once', () => {
  const table = SubscriberTable.create(64);
  const deadLedger = Ledger.create(64);
  const d = new CountingTable(table, deadLedger, 1);
  const alive = new CountingTable(table, Ledger.create(64), 0);
  d.addUser(1, 10, true, true);
  d.addUser(1, 10, false, false);
  d.addUser(1, 11, true, true);
  alive.addUser(1, 11, false, true);
  d.addRoomMember(1, 500, true);
  d.addRoomMember(1, 500, false);
  alive.addRoomMember(1, 501, true);
  const seen: string[] = [];
  const r = releaseShard(table, deadLedger, 1, (t, appid, id) => { if (t !== Transition.NONE) seen.push(`${t}:${appid}:${id}`); });
  assert.equal(r, { users: 2, rooms: 1 });
  assert.equal(seen.sort(), [
    `${Transition.UNSUBSCRIBE}:1:10`, // both of uid 10's connections were on the dead shard
    `${Transition.SUBSCRIBE_OFFLINE}:1:11`, // uid 11 keeps an offline connection elsewhere
    `${Transition.UNSUBSCRIBE_ROOM}:1:500`,
  ].sort());
  assert.is(table.count(Kind.USER, 1, 10), 0);
  assert.is(table.count(Kind.USER, 1, 11), 1, 'the live shard\'s offline connection remains');
  assert.is(table.count(Kind.ROOM, 1, 501), 1);
  const out: number[] = [];
  assert.equal(out.slice(0, table.shards(Kind.USER, 1, 11, out)), [0], 'the dead shard\'s bit is gone');
});

test('a ledger one ahead of the table (death between the two updates) is released without harm', () => {
  const table = SubscriberTable.create(16);
  const ledger = Ledger.create(16);
  ledger.addUser(1, 7, true); // counted in the ledger only
  table.addUser(1, 8, true, 2, true);
  ledger.addUser(1, 8, true);
  const r = releaseShard(table, ledger, 2, () => {});
  assert.equal(r, { users: 2, rooms: 0 });
  assert.is(table.size, 0);
});

test.run();
