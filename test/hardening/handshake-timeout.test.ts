/**
 * Every adopted socket must become an authenticated connection within IM_AUTH_TIMEOUT_S,
 * whatever its transport: a TLS handshake or a WebSocket upgrade that never finishes is
 * closed like a TCP client that never sends AUTH_TOKEN (else idle sockets exhaust the fds).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import type { ImClient } from '../../src/client/index.ts';
import { httpJson } from '../helpers/process.ts';
import { login, startIm, type Im } from '../helpers/im.ts';
import { selfSignedCert } from '../helpers/tls.ts';
import { loud } from '../helpers/loud.ts';

let im: Im;
const tlsFiles = selfSignedCert();
const clients: ImClient[] = [];

test.before(loud(async () => {
  im = await startIm({
    IM_SHARDS: '2', IM_AUTH_TIMEOUT_S: '1', IM_STORE: 'off',
    IM_TLS_PORT: '0', IM_WSS_PORT: '0', IM_TLS_CERT: tlsFiles.certFile, IM_TLS_KEY: tlsFiles.keyFile,
  });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im?.stop();
}));

async function stalled(port: number, send?: string): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  if (send !== undefined) s.write(send);
  return s;
}

test('half-done WebSocket upgrades, TLS and WSS handshakes and silent TCP sockets are all closed after the auth timeout', async () => {
  const sockets = [
    ...await Promise.all(Array.from({ length: 5 }, () => stalled(im.wsPort, 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'))),
    ...await Promise.all(Array.from({ length: 5 }, () => stalled(im.wsPort))),
    ...await Promise.all(Array.from({ length: 5 }, () => stalled(im.tlsPort!))),
    ...await Promise.all(Array.from({ length: 5 }, () => stalled(im.wssPort!))),
    ...await Promise.all(Array.from({ length: 5 }, () => stalled(im.port))),
  ];
  const closed = sockets.map((s) => (s.destroyed ? Promise.resolve() : once(s, 'close')));
  await Promise.race([
    Promise.all(closed),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${sockets.filter((s) => !s.destroyed).length} sockets still open`)), 10_000)),
  ]);
  const shards = (await httpJson(im.httpPort, '/summary')).body.shards as { authTimeouts: number }[];
  assert.ok(shards.reduce((n, s) => n + s.authTimeouts, 0) >= 25, 'each one counted as an auth timeout');
  // Nothing else was harmed: a client logs in and stays past the timeout once authenticated.
  const c = await login(im, 1, 1);
  clients.push(c);
  await new Promise((r) => setTimeout(r, 2500));
  await c.ping();
  assert.not.ok(c.closed);
});

test.run();
