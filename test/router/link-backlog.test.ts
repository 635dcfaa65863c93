/**
 * A router link's write limit tells a burst from a stall: frames past the limit in one turn
 * are dropped and counted while the link stays open and what fitted arrives; a peer that
 * takes nothing for 2 s with the limit reached is closed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { Link, type LinkCloseReason } from '../../src/router/link.ts';
import { Cmd, FrameDecoder, ROUTER_CMDS, type Frame } from '../../src/protocol/index.ts';

async function pair(): Promise<{ server: net.Socket; peer: net.Socket; close(): void }> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const peer = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const [server] = await once(srv, 'connection') as [net.Socket];
  await once(peer, 'connect');
  peer.on('error', () => {});
  server.on('error', () => {});
  return { server, peer, close: () => { peer.destroy(); server.destroy(); srv.close(); } };
}

const LIMIT = 256 * 1024;
const frame = (n: number): Frame => ({ cmd: Cmd.PUBLISH, seq: 0, version: 0, flag: 0, body: Buffer.alloc(30_000, n) });

function link(server: net.Socket) {
  const events = { backlog: 0, closed: [] as LinkCloseReason[] };
  const l = new Link(1, server, { frame: () => {}, invalid: () => {}, closed: (_l, r) => events.closed.push(r), backlog: () => events.backlog++ }, LIMIT);
  return { l, events };
}

test('a burst past the limit in one turn: the excess dropped and counted, the rest delivered, the link kept', async () => {
  const p = await pair();
  const { l, events } = link(p.server);
  const got: Frame[] = [];
  const d = new FrameDecoder({ accept: ROUTER_CMDS });
  p.peer.on('data', (c: Buffer) => d.push(c, (f) => got.push(f)));
  for (let i = 0; i < 40; i++) l.forward(frame(i));
  const fitted = Math.floor(LIMIT / (30_000 + 12));
  assert.is(l.overLimit, 40 - fitted);
  assert.is(events.backlog, 40 - fitted);
  while (got.length < fitted) await once(p.peer, 'data');
  assert.equal(got.map((f) => f.body[0]), Array.from({ length: fitted }, (_, i) => i), 'the first ones, in order');
  l.forward(frame(99));
  while (got.length < fitted + 1) await once(p.peer, 'data');
  assert.is(got.at(-1)!.body[0], 99, 'the link still carries');
  assert.equal(events.closed, []);
  p.close();
});

test('a peer that takes nothing for 2 s with the limit reached is closed as write_limit', async () => {
  const p = await pair();
  p.peer.pause();
  const { l, events } = link(p.server);
  const closed = once(p.server, 'close');
  // Until the kernel's buffers are full and our own backlog passes the limit.
  while (l.overLimit === 0) {
    for (let i = 0; i < 8; i++) l.forward(frame(i));
    await new Promise((r) => setImmediate(r));
  }
  await closed;
  assert.equal(events.closed, ['write_limit']);
  p.close();
});

test.run();
