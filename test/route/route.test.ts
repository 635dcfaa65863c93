import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AppRoute, Removed, Route } from '../../src/route/index.ts';

const conn = (uid: number, deviceId = 'd') => ({ uid, deviceId });

test('addClient tells whether the uid is new; removeClient whether the set emptied', () => {
  const r = new Route<ReturnType<typeof conn>>(7);
  const a1 = conn(1, 'phone'), a2 = conn(1, 'pc'), b = conn(2);
  assert.is(r.addClient(a1), true);
  assert.is(r.addClient(a2), false);
  assert.is(r.addClient(b), true);
  assert.is(r.addClient(a1), false, 'adding twice changes nothing');
  assert.is(r.clientCount, 3);
  assert.is(r.userCount, 2);
  assert.equal([...r.findClientSet(1)!], [a1, a2]);
  assert.is(r.removeClient(a1), Removed.REMOVED);
  assert.is(r.removeClient(a1), Removed.NOT_FOUND);
  assert.is(r.removeClient(a2), Removed.EMPTIED);
  assert.is(r.findClientSet(1), undefined, 'empty sets are deleted');
  assert.equal([...r.getUserIDs()], [2]);
  assert.is(r.clientCount, 1);
});

test('the set handed out is the live set, not a copy', () => {
  const r = new Route<ReturnType<typeof conn>>(7);
  const a = conn(1);
  r.addClient(a);
  const set = r.findClientSet(1)!;
  r.addClient(conn(1, 'x'));
  assert.is(set.size, 2);
  assert.is(r.findClientSet(1), set);
});

test('rooms: add, remove, statistics', () => {
  const r = new Route<ReturnType<typeof conn>>(7);
  const cs = [conn(1), conn(2), conn(3), conn(4)];
  assert.equal(r.addRoomClient(10, cs[0]!), [true, undefined]);
  assert.equal(r.addRoomClient(10, cs[1]!), [false, undefined]);
  r.addRoomClient(10, cs[2]!);
  r.addRoomClient(11, cs[3]!);
  assert.is(r.roomCount, 2);
  assert.is(r.roomClientCount, 4);
  assert.is(r.findRoomClientSet(10)!.size, 3);
  assert.is(r.removeRoomClient(11, cs[3]!), Removed.EMPTIED);
  assert.is(r.removeRoomClient(11, cs[3]!), Removed.NOT_FOUND);
  assert.is(r.removeRoomClient(10, cs[0]!), Removed.REMOVED);
  assert.is(r.findRoomClientSet(11), undefined);
  assert.is(r.roomClientCount, 2);
});

test('room rule by uid evicts the older connection of the same user', () => {
  const r = new Route<ReturnType<typeof conn>>(7, 'uid');
  const old = conn(1, 'phone'), neu = conn(1, 'pc'), other = conn(2);
  r.addRoomClient(10, old);
  r.addRoomClient(10, other);
  assert.equal(r.addRoomClient(10, neu), [false, old]);
  assert.equal([...r.findRoomClientSet(10)!], [other, neu]);
  assert.is(r.roomClientCount, 2);
  assert.is(r.removeRoomClient(10, old), Removed.NOT_FOUND);
});

test('room rule by device keeps one connection per device', () => {
  const r = new Route<ReturnType<typeof conn>>(7, 'device');
  const phone = conn(1, 'phone'), pc = conn(1, 'pc'), phone2 = conn(1, 'phone');
  r.addRoomClient(10, phone);
  assert.equal(r.addRoomClient(10, pc), [false, undefined]);
  assert.equal(r.addRoomClient(10, phone2), [false, phone]);
  assert.is(r.findRoomClientSet(10)!.size, 2);
  r.removeRoomClient(10, phone2);
  r.removeRoomClient(10, pc);
  assert.is(r.roomCount, 0);
});

test('AppRoute: findOrAddRoute, findRoute, and an app forgotten once empty', () => {
  const ar = new AppRoute<ReturnType<typeof conn>>();
  assert.is(ar.findRoute(1), undefined);
  const r1 = ar.findOrAddRoute(1);
  assert.is(ar.findOrAddRoute(1), r1);
  const a = conn(5);
  r1.addClient(a);
  r1.addRoomClient(10, a);
  ar.dropIfEmpty(1);
  assert.is(ar.findRoute(1), r1, 'an app with connections is kept');
  r1.removeClient(a);
  ar.dropIfEmpty(1);
  assert.is(ar.findRoute(1), r1, 'an app with a room member is kept');
  r1.removeRoomClient(10, a);
  ar.dropIfEmpty(1);
  assert.is(ar.findRoute(1), undefined);
  assert.equal([...ar.routes()], []);
});

test.run();
