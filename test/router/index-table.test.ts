import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RouterIndex } from '../../src/router/index-table.ts';

test('subscribe, online flags, rooms and link removal keep both directions consistent', () => {
  const ix = new RouterIndex<string>();
  ix.addLink('a');
  ix.addLink('b');
  ix.subscribe('a', 1, 10, true);
  ix.subscribe('b', 1, 10, false);
  ix.subscribe('b', 1, 10, false);
  ix.subscribe('b', 2, 10, true);
  ix.subscribeRoom('a', 1, 7);
  ix.subscribeRoom('a', 1, 7);
  ix.subscribeRoom('b', 1, 7);
  assert.is(ix.userSubscriptions, 3);
  assert.is(ix.roomSubscriptions, 2);
  assert.equal([...ix.userLinks(1, 10)!], [['a', true], ['b', false]]);
  assert.equal([...ix.roomLinks(1, 7)!], ['a', 'b']);
  assert.ok(ix.isOnline(1, 10));
  ix.unsubscribe('a', 1, 10);
  assert.not.ok(ix.isOnline(1, 10), 'b subscribed it offline');
  assert.equal(ix.allUsers(), [{ appid: 1, users: [10] }, { appid: 2, users: [10] }]);
  assert.equal(ix.linkView('b'), [{ appid: 1, users: [[10, false]], rooms: [7] }, { appid: 2, users: [[10, true]], rooms: [] }]);
  ix.removeLink('b');
  assert.is(ix.userLinks(1, 10), undefined, 'empty entries are deleted');
  assert.equal([...ix.roomLinks(1, 7)!], ['a']);
  assert.is(ix.userSubscriptions, 0);
  assert.is(ix.roomSubscriptions, 1);
  assert.equal(ix.allUsers(), []);
  ix.unsubscribeRoom('a', 1, 7);
  assert.is(ix.roomLinks(1, 7), undefined);
  assert.is(ix.linkCount, 1);
});

test.run();
