/**
 * The end of a turn (threads/turn.ts): every outlet that has work goes out in one pass, in a
 * fixed order whatever order they asked in; work a flush asks for a later outlet joins the
 * same pass, for an earlier one the next turn's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Outlet, atEndOfTurn } from '../../src/threads/turn.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

test('outlets go out store, clients, peers, Channel, turn: not in the order they asked', async () => {
  const ran: string[] = [];
  atEndOfTurn(Outlet.TURN, () => ran.push('turn'));
  atEndOfTurn(Outlet.CLIENTS, () => ran.push('clients'));
  atEndOfTurn(Outlet.STORE, () => ran.push('store'));
  atEndOfTurn(Outlet.CHANNEL, () => ran.push('channel'));
  atEndOfTurn(Outlet.PEERS, () => ran.push('peers'));
  assert.equal(ran, [], 'nothing before the end of the turn');
  await turn();
  assert.equal(ran, ['store', 'clients', 'peers', 'channel', 'turn']);
});

test('what a flush asks of a later outlet goes out in the same pass; of an earlier one, at the next turn\'s end', async () => {
  const ran: string[] = [];
  atEndOfTurn(Outlet.CLIENTS, () => {
    ran.push('clients');
    atEndOfTurn(Outlet.PEERS, () => ran.push('peers, same pass'));
    atEndOfTurn(Outlet.STORE, () => ran.push('store, next turn'));
  });
  await turn();
  assert.equal(ran, ['clients', 'peers, same pass']);
  await turn();
  assert.equal(ran, ['clients', 'peers, same pass', 'store, next turn']);
});

test('one immediate a turn, however many outlets ask', async () => {
  const original = globalThis.setImmediate;
  let immediates = 0;
  globalThis.setImmediate = ((fn: () => void) => { immediates++; return original(fn); }) as typeof setImmediate;
  try {
    let n = 0;
    for (let i = 0; i < 100; i++) atEndOfTurn((i % 5) as Outlet, () => n++);
    assert.is(immediates, 1);
    await new Promise<void>((r) => original(r));
    assert.is(n, 100);
  } finally {
    globalThis.setImmediate = original;
  }
});

test.run();
