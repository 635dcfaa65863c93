import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { RouterLink } from '../../src/channel/router-link.ts';
import { Cmd, FrameDecoder, ROUTER_CMDS, codecs, encodeFrame } from '../../src/protocol/index.ts';
import { eventually } from '../helpers/process.ts';

/*
 * A router link's liveness against routers on a real socket: one that answers PINGs (ours),
 * one that never does (GoBelieve's), and one whose process is stopped: its kernel still
 * accepts the connection, and nothing else happens.
 */
const PONG = encodeFrame(codecs.PONG, {}, 0, 0);
const handlers = { up: () => {}, down: () => {}, frame: () => {}, invalid: () => {}, backlog: () => {} };
const limits = { batchBytes: 64 * 1024, holdFrames: 100, limitBytes: 1 << 20, reconnectMaxMs: 200 };

/** A fake router on a free loopback port: `answer` says whether it answers PING now; `sockets` are the connections it took. */
async function fakeRouter() {
  const sockets: net.Socket[] = [];
  const f = { answer: true, sockets, server: net.createServer() };
  f.server.on('connection', (s) => {
    sockets.push(s);
    s.on('error', () => {});
    const d = new FrameDecoder({ accept: ROUTER_CMDS });
    s.on('data', (c: Buffer) => d.push(c, (fr) => { if (fr.cmd === Cmd.PING && f.answer) s.write(PONG); }));
  });
  f.server.listen(0, '127.0.0.1');
  await once(f.server, 'listening');
  return Object.assign(f, { port: (f.server.address() as net.AddressInfo).port });
}

test('a router known to answer PINGs, found stopped on a reconnect: never up, cut, and tried again', async () => {
  const r = await fakeRouter();
  const link = new RouterLink({ host: '127.0.0.1', port: r.port }, handlers, limits);
  link.start();
  try {
    await eventually(() => link.up && link.liveness === 'checked', 5000, 'linked, its PINGs answered');
    // The router's process stops: its kernel takes a new connection, nothing answers on it.
    r.answer = false;
    r.sockets[0]!.destroy();
    await eventually(() => r.sockets.length >= 2, 10_000, 'dialled again');
    const second = r.sockets[1]!;
    assert.is(link.up, false, 'not up on a connection nothing answered');
    await eventually(() => second.destroyed || second.readyState === 'closed', 20_000, 'the silent connection cut');
    assert.is(link.up, false);
    // Back to life: linked again as soon as it answers.
    r.answer = true;
    await eventually(() => link.up, 20_000, 'linked again');
  } finally {
    await link.stop();
    for (const s of r.sockets) s.destroy();
    r.server.close();
  }
});

test('a router that never answers PING (GoBelieve\'s): linked all the same, its liveness not checked', async () => {
  const r = await fakeRouter();
  r.answer = false;
  const link = new RouterLink({ host: '127.0.0.1', port: r.port }, handlers, limits);
  link.start();
  try {
    await eventually(() => link.up, 5000, 'linked');
    assert.is(link.liveness, 'unknown');
    await eventually(() => link.liveness === 'not checked', 20_000, 'known not to answer');
    assert.is(link.up, true, 'still up');
  } finally {
    await link.stop();
    for (const s of r.sockets) s.destroy();
    r.server.close();
  }
});

test.run();
