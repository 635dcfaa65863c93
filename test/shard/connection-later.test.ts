/**
 * A handler's continuation after an await (a save, a group load) runs outside the shard's
 * per-frame guard: Connection.later gives it the same rule, a bug costs this connection
 * only, and never reaches the worker as an unhandled rejection.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Connection, type ConnectionOwner } from '../../src/shard/connection.ts';
import type { ServerTransport } from '../../src/shard/transport.ts';
import { FrameDecoder } from '../../src/protocol/index.ts';

function setup() {
  const failures: { err: unknown; cmd: number }[] = [];
  let destroyed = 0;
  const transport: ServerTransport = {
    kind: 'tcp', remote: 'test', buffered: 0, releasesWrites: false,
    write: () => true, end: () => {}, destroy: () => { destroyed++; }, pause: () => {}, resume: () => {},
  };
  const owner = {
    onInternalError: (c: Connection, err: unknown, cmd: number) => { failures.push({ err, cmd }); c.destroy(); },
    continued: (_c: Connection, run: () => void) => run(),
  } as unknown as ConnectionOwner;
  const c = new Connection(1, () => transport, owner, new FrameDecoder(), { frames: 10, bytes: 1 << 20, policy: 'disconnect' } as never, 0);
  return { c, failures, destroyed: () => destroyed };
}

test('a continuation that throws is reported with its cmd and closes the connection', async () => {
  const { c, failures, destroyed } = setup();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await Promise.resolve(7).then(c.later(4, (v: number) => { throw new Error(`bug after ${v}`); }));
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.is(failures.length, 1);
  assert.is(failures[0]!.cmd, 4);
  assert.match(String(failures[0]!.err), 'bug after 7');
  assert.is(destroyed(), 1);
  assert.equal(unhandled, []);
});

test('a continuation that returns normally gets its value and reports nothing', async () => {
  const { c, failures, destroyed } = setup();
  let got = 0;
  await Promise.resolve(3).then(c.later(4, (v: number) => { got = v; }));
  assert.is(got, 3);
  assert.is(failures.length, 0);
  assert.is(destroyed(), 0);
});

test.run();
