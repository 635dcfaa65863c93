import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { httpJson } from '../helpers/process.ts';
import { SECRET, login, startIm, type Im } from '../helpers/im.ts';
import { startNats } from '../helpers/nats.ts';
import { selfSignedCert } from '../helpers/tls.ts';
import { natsServerOf } from '../helpers/nats-cluster.ts';

/*
 * A NATS server that requires credentials or TLS, configured for real: each way of
 * presenting them links two access servers, no secret shows in a log line, /healthz,
 * /metrics, /summary or the dashboard, and wrong credentials are one clear, masked line at
 * start with exit 2.
 */
const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'im-nats-auth-'));

/** The dashboard's first event: what its page shows. */
async function dashboardSample(im: Im): Promise<string> {
  const stop = new AbortController();
  const r = await fetch(`http://127.0.0.1:${im.httpPort}/events`, { signal: stop.signal });
  const reader = r.body!.getReader();
  let text = '';
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
  stop.abort();
  assert.match(text, /nats/);
  return text;
}

/** Two servers on `env`: a message crosses between them, and `secret` shows nowhere. */
async function linkedWith(env: Record<string, string>, secret: string): Promise<void> {
  const ims: Im[] = [];
  try {
    for (let i = 0; i < 2; i++) ims.push(await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_LOG_LEVEL: 'info', ...env }));
    for (const im of ims) assert.is((await natsServerOf(im)).state, 'up');
    const a = await login(ims[0]!, 1, 1);
    const b = await login(ims[1]!, 1, 2);
    try {
      for (let n = 0, got = false; !got; n++) {
        assert.ok(n < 300, 'the message crossed');
        const rt = b.next('rt', 50).then(() => true, () => false);
        a.sendRT({ receiver: 2, content: 'across' });
        got = await rt;
      }
    } finally {
      a.destroy();
      b.destroy();
    }
    for (const im of ims) {
      const pages = await Promise.all(['/healthz', '/metrics', '/summary'].map((p) => httpJson(im.httpPort, p)));
      assert.match(JSON.stringify(pages[0]!.body), /"router":"nats"/);
      for (const p of [...pages.map((x) => JSON.stringify(x.body)), await dashboardSample(im)]) assert.not.ok(p.includes(secret), 'no secret in a page');
    }
  } finally {
    for (const im of ims) assert.is(await im.stop(), 0);
  }
  for (const im of ims) assert.not.ok(im.lines.join('\n').includes(secret) || im.stderr().includes(secret), 'no secret in a log line');
}

test('user and password in IM_NATS_URL; a wrong password is one masked line and exit 2', async () => {
  const nats = await startNats({ size: 1, extra: 'authorization { user: im, password: "pw-9f8e7d6c" }' });
  const port = nats.urls[0]!.split(':').at(-1);
  try {
    await linkedWith({ IM_NATS_URL: `nats://im:pw-9f8e7d6c@127.0.0.1:${port}` }, 'pw-9f8e7d6c');
    const env = {
      ...process.env, IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_SHARDS: '1', IM_STORE: 'off', IM_JWT_SECRET: SECRET, IM_HOST: '127.0.0.1',
      IM_NATS_URL: `nats://im:wrong-a1b2c3@127.0.0.1:${port}`,
    };
    const r = await run(process.execPath, ['src/server/main.ts'], { cwd: root, env, timeout: 30_000 }).then(() => undefined, (e: { code: number; stderr: string; stdout: string }) => e);
    assert.ok(r !== undefined, 'it must not start');
    assert.is(r!.code, 2);
    assert.match(r!.stderr, /im: IM_NATS_URL \(nats:\/\/127\.0\.0\.1:\d+\): the NATS server refused this server's credentials/);
    assert.not.ok(r!.stderr.includes('wrong-a1b2c3') || r!.stdout.includes('wrong-a1b2c3'), 'the password is masked');
  } finally {
    await nats.stop();
  }
});

test('a token in IM_NATS_URL', async () => {
  const nats = await startNats({ size: 1, extra: 'authorization { token: "tok-5a4b3c2d" }' });
  try {
    await linkedWith({ IM_NATS_URL: nats.url.replace('nats://', 'nats://tok-5a4b3c2d@') }, 'tok-5a4b3c2d');
  } finally {
    await nats.stop();
  }
});

test('an nkey seed file (IM_NATS_CREDS)', async () => {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const file = join(dir, 'im.nk');
  writeFileSync(file, `${seed}\n`, { mode: 0o600 });
  const nats = await startNats({ size: 1, extra: `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }` });
  try {
    await linkedWith({ IM_NATS_URL: nats.url, IM_NATS_CREDS: file }, seed);
  } finally {
    await nats.stop();
  }
});

test('TLS (tls:// and IM_NATS_CA), with a user and password', async () => {
  const { certFile, keyFile } = selfSignedCert();
  const nats = await startNats({ size: 1, extra: `tls { cert_file: "${certFile}", key_file: "${keyFile}" }\nauthorization { user: im, password: "pw-tls-0a9b" }` });
  try {
    await linkedWith({ IM_NATS_URL: nats.url.replace('nats://', 'tls://im:pw-tls-0a9b@'), IM_NATS_CA: certFile }, 'pw-tls-0a9b');
  } finally {
    await nats.stop();
  }
});

test('routers and NATS together: a clear error at start', async () => {
  const env = {
    ...process.env, IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_SHARDS: '1', IM_STORE: 'off', IM_JWT_SECRET: SECRET,
    IM_NATS_URL: 'nats://127.0.0.1:4222', IM_ROUTE_ADDRS: '127.0.0.1:4444',
  };
  const r = await run(process.execPath, ['src/server/main.ts'], { cwd: root, env, timeout: 30_000 }).then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.is(r?.code, 2);
  assert.match(r!.stderr, /im: IM_ROUTE_ADDRS: and IM_NATS_URL are two ways to link access servers/);
});

test.run();
