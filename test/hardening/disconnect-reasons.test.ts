import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { login, startIm } from '../helpers/im.ts';
import { eventually, httpJson } from '../helpers/process.ts';

/** Every close of a client connection is counted by why, and said in its debug line. */
test('each way a connection ends has its reason: metric and log line', async () => {
  const im = await startIm({ IM_SHARDS: '2', IM_AUTH_TIMEOUT_S: '1', IM_CLIENT_TIMEOUT_S: '2', IM_TEST_HOOKS: '1', IM_LOG_LEVEL: 'debug', IM_STORE: 'off' });
  const raw = async () => {
    const s = net.connect({ port: im.port, host: '127.0.0.1' });
    s.on('error', () => {});
    await once(s, 'connect');
    return s;
  };
  const counted = async () => {
    const text = (await httpJson(im.httpPort, '/metrics')).body as string;
    const by = new Map<string, number>();
    for (const m of text.matchAll(/^im_disconnects_total\{reason="(\w+)",shard="\d+"\} (\d+)/gm)) by.set(m[1]!, (by.get(m[1]!) ?? 0) + Number(m[2]));
    return by;
  };
  try {
    (await raw()); // never authenticates
    const bad = await raw();
    bad.write(Buffer.from('000000080000000163020000aaaaaaaaaaaaaaaa', 'hex')); // cmd 99: no client sends it
    const big = await raw();
    big.write(Buffer.from('7fffffff0000000104020000', 'hex')); // a 2 GiB body announced
    const peer = await login(im, 1, 1);
    peer.destroy();
    await login(im, 1, 2); // says nothing after its login: idle
    await eventually(async () => {
      const by = await counted();
      return ['auth_timeout', 'bad_frame', 'oversized', 'peer_closed', 'idle'].every((r) => (by.get(r) ?? 0) >= 1);
    }, 15_000, 'every reason counted');
    // A shard that dies takes its connections with it.
    const victims = await Promise.all([3, 4, 5, 6].map((uid) => login(im, 1, uid)));
    const before = (await httpJson(im.httpPort, '/summary')).body.shards as { shard: number; connections: number }[];
    const shard = before.find((s) => s.connections > 0)!.shard;
    assert.is((await httpJson(im.httpPort, `/debug/crash_shard?shard=${shard}`, { method: 'POST' })).status, 200);
    await eventually(async () => ((await counted()).get('shard_lost') ?? 0) >= 1, 15_000, 'shard_lost counted');
    for (const v of victims) v.destroy();
    for (const r of ['auth_timeout', 'bad_frame', 'oversized', 'peer_closed', 'idle']) {
      assert.ok(im.lines.some((l) => l.includes('"msg":"connection closed"') && l.includes(`"reason":"${r}"`)), `a debug line says ${r}`);
    }
  } finally {
    assert.is(await im.stop(), 0);
  }
});

test.run();
