import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { ImClient, ClientClosedError } from '../../src/client/index.ts';
import { CLIENT_CMDS, Cmd, Flag, FrameDecoder, codecs, encodeFrame, type Frame, type MessageCodec } from '../../src/protocol/index.ts';

const decodeBody = <T>(codec: MessageCodec<T>, f: Frame) => codec.forVersion(f.version).decode(f.body, 0, f.body.length);

/**
 * A scripted peer speaking the server side of the protocol, to test the SDK on its own
 * over real TCP and WebSocket connections.
 */
function peer(send: (b: Buffer) => void, seen: Frame[]): (chunk: Buffer) => void {
  const d = new FrameDecoder({ accept: CLIENT_CMDS });
  let seq = 0;
  return (chunk) => d.push(chunk, (f) => {
    seen.push(f);
    const v = f.version;
    if (f.cmd === Cmd.AUTH_TOKEN) {
      const auth = decodeBody(codecs.AUTH_TOKEN, f) as { token: string };
      send(encodeFrame(codecs.AUTH_STATUS, { status: auth.token === 'good' ? 0 : 1 }, ++seq, v));
    } else if (f.cmd === Cmd.PING) {
      send(encodeFrame(codecs.PONG, {}, ++seq, v));
    } else if (f.cmd === Cmd.IM) {
      const im = decodeBody(codecs.IM, f) as { sender: number; receiver: number; timestamp: number; msgid: number; content: Buffer };
      send(encodeFrame(codecs.ACK, { seq: f.seq, status: 0 }, ++seq, v));
      send(encodeFrame(codecs.IM, { ...im, sender: im.receiver, receiver: im.sender }, ++seq, v, Flag.PUSH));
    }
  });
}

async function tcpServer(seen: Frame[]): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', peer((b) => s.write(b), seen));
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

async function wsServer(seen: Frame[]): Promise<{ port: number; close: () => void }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws: WebSocket) => ws.on('message', peer((b) => ws.send(b), seen) as never));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => { for (const c of wss.clients) c.terminate(); server.close(); } };
}

for (const transport of ['tcp', 'ws'] as const) {
  test(`${transport}: auth, ping, IM with ACK, pushed IM with auto-ACK, seq numbering`, async () => {
    const seen: Frame[] = [];
    const server = transport === 'tcp' ? await tcpServer(seen) : await wsServer(seen);
    const c = await ImClient.connect({ port: server.port, transport, uid: 10 });
    try {
      assert.is(await c.auth({ token: 'good', deviceId: 'dev-1' }), 0);
      await c.ping();
      const pushed = c.next('im');
      const ack = await c.sendIM({ receiver: 20, content: 'hello', msgid: 5 });
      assert.is(ack.seq, 3, 'the ACK names the seq the IM was sent with');
      const [im, frame] = await pushed;
      assert.equal([im.sender, im.receiver, im.msgid, im.content.toString()], [20, 10, 5, 'hello']);
      assert.ok(frame.flag & Flag.PUSH);
      await c.ping();
      const acks = seen.filter((f) => f.cmd === Cmd.ACK).map((f) => (decodeBody(codecs.ACK, f) as { seq: number }).seq);
      assert.equal(acks, [frame.seq], 'the pushed IM was acknowledged with its own seq');
      assert.equal(seen.map((f) => f.seq), [1, 2, 3, 4, 5], 'the client numbers its frames from 1');
      assert.ok(seen.every((f) => f.version === 2));
    } finally {
      await c.close();
      server.close();
    }
  });
}

test('failed auth resolves with status 1', async () => {
  const server = await tcpServer([]);
  const c = await ImClient.connect({ port: server.port });
  assert.is(await c.auth({ token: 'bad' }), 1);
  await c.close();
  server.close();
});

test('closing rejects what is still waiting, with a typed error', async () => {
  const seen: Frame[] = [];
  const server = net.createServer((s) => s.on('data', () => s.destroy()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const c = await ImClient.connect({ port: (server.address() as net.AddressInfo).port, uid: 1 });
  const err = await c.sendIM({ receiver: 2, content: 'x' }).catch((e: unknown) => e);
  assert.instance(err, ClientClosedError);
  assert.is((err as ClientClosedError).code, 'ERR_CLIENT_CLOSED');
  assert.ok(c.closed);
  assert.throws(() => c.sendRT({ receiver: 2, content: 'y' }), (e: unknown) => e instanceof ClientClosedError);
  assert.is(seen.length, 0);
  server.close();
});

test('a server frame that breaks the protocol closes the client and reports it', async () => {
  const server = net.createServer((s) => s.write(Buffer.from('00000004000000011e020000', 'hex').subarray(0, 12)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const c = await ImClient.connect({ port: (server.address() as net.AddressInfo).port });
  const [err] = await c.next('error');
  assert.is((err as { code?: string }).code, 'ERR_CMD_NOT_ALLOWED', 'SYNC_GROUP (30) is client-only');
  await c.next('close');
  server.close();
});

test.run();
