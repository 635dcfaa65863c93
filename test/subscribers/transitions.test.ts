import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Transition, onRoomAdded, onRoomRemoved, onUserAdded, onUserRemoved } from '../../src/subscribers/index.ts';

const packed = (total: number, online: number) => ((online << 16) | total) >>> 0;

test('first connection subscribes, with its online flag', () => {
  assert.is(onUserAdded(packed(0, 0), true), Transition.SUBSCRIBE_ONLINE);
  assert.is(onUserAdded(packed(0, 0), false), Transition.SUBSCRIBE_OFFLINE);
});

test('a second device changes nothing when the online half does not change', () => {
  assert.is(onUserAdded(packed(1, 1), true), Transition.NONE);
  assert.is(onUserAdded(packed(1, 1), false), Transition.NONE);
  assert.is(onUserAdded(packed(1, 0), false), Transition.NONE);
});

test('the first online connection joining offline ones subscribes online', () => {
  assert.is(onUserAdded(packed(2, 0), true), Transition.SUBSCRIBE_ONLINE);
});

test('the last online connection leaving while others remain subscribes offline', () => {
  assert.is(onUserRemoved(packed(3, 1), true), Transition.SUBSCRIBE_OFFLINE);
  assert.is(onUserRemoved(packed(3, 2), true), Transition.NONE);
  assert.is(onUserRemoved(packed(3, 1), false), Transition.NONE);
});

test('the last connection leaving unsubscribes, online or not', () => {
  assert.is(onUserRemoved(packed(1, 1), true), Transition.UNSUBSCRIBE);
  assert.is(onUserRemoved(packed(1, 0), false), Transition.UNSUBSCRIBE);
});

test('rooms: 0→1 subscribes, 1→2 and 2→1 nothing, 1→0 unsubscribes', () => {
  assert.is(onRoomAdded(0), Transition.SUBSCRIBE_ROOM);
  assert.is(onRoomAdded(1), Transition.NONE);
  assert.is(onRoomRemoved(2), Transition.NONE);
  assert.is(onRoomRemoved(1), Transition.UNSUBSCRIBE_ROOM);
});

test('high online counts stay unsigned', () => {
  assert.is(onUserRemoved(packed(40000, 40000), true), Transition.NONE);
  assert.is(onUserAdded(packed(40000, 0), true), Transition.SUBSCRIBE_ONLINE);
});

test.run();
