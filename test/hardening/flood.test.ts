import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { codecs, encodeFrame } from '../../src/protocol/index.ts';
import { login, startIm, token } from '../helpers/im.ts';
import { eventually, httpJson } from '../helpers/process.ts';

/*
 * One client sending as fast as its socket allows does not take its shard's turns from its
 * neighbours: past IM_READ_BUDGET_BYTES in a turn its reads wait for the next one. (How
 * much latency that spares the neighbours is measured by npm run bench:flood, not here.)
 */
test('a flooding client is read a budget per turn; a control pair on its shard loses nothing', async () => {
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_QUEUE_POLICY: 'drop-oldest' });
  const [a, b] = [await login(im, 1, 1), await login(im, 1, 2)];
  const receiver = await login(im, 1, 3);
  const flooder = net.connect({ port: im.port, host: '127.0.0.1' });
  flooder.on('error', () => {});
  try {
    await once(flooder, 'connect');
    flooder.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await token(1, 4), device_id: 'flood' }, 1, 2));
    await once(flooder, 'data');
    // 8 MiB of 1 KiB RTs to a receiver that does not read, written at once.
    const rt = encodeFrame(codecs.RT, { sender: 4, receiver: 3, content: Buffer.alloc(1000, 7) }, 2, 2);
    flooder.write(Buffer.concat(Array.from({ length: 8192 }, () => rt)));
    receiver.destroy();
    const got: string[] = [];
    b.on('rt', (m) => got.push(m.content.toString()));
    for (let i = 0; i < 20; i++) {
      a.sendRT({ receiver: 2, content: `c${i}` });
      await new Promise((r) => setImmediate(r));
    }
    await a.ping();
    await b.ping();
    assert.equal(got, Array.from({ length: 20 }, (_, i) => `c${i}`), 'every control message, in order');
    const pauses = async () => Number(/^im_read_budget_pauses_total\{shard="0"\} (\d+)/m.exec((await httpJson(im.httpPort, '/metrics')).body as string)?.[1] ?? 0);
    await eventually(async () => (await pauses()) > 0, 10_000, 'the flooder\'s reads waited for later turns');
  } finally {
    flooder.destroy();
    a.destroy();
    b.destroy();
    assert.is(await im.stop(), 0);
  }
});

test.run();
