import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { codecs } from '../../src/protocol/index.ts';
import { FakeLink } from '../helpers/link.ts';
import { eventually, httpJson, startProcess } from '../helpers/process.ts';

test('a link that stops reading: frames over the write limit dropped, then it is closed; the router and other links carry on', async () => {
  const imr = await startProcess('src/router/main.ts', {
    IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn', IMR_LINK_WRITE_LIMIT: String(256 * 1024),
  });
  const port = imr.ready.port as number;
  const httpPort = imr.ready.httpPort as number;
  try {
    const stuck = await FakeLink.connect(port);
    const healthy = await FakeLink.connect(port);
    const sender = await FakeLink.connect(port);
    stuck.socket.pause(); // never reads again
    stuck.send(codecs.SUBSCRIBE, { appid: 1, uid: 1, online: 1 });
    healthy.send(codecs.SUBSCRIBE, { appid: 1, uid: 2, online: 1 });
    await eventually(async () => (await httpJson(httpPort, '/all_online')).body[0]?.users.length === 2);
    const message = Buffer.alloc(30_000, 1);
    const metrics = async () => (await httpJson(httpPort, '/metrics')).body as string;
    // Traffic for the stuck link goes on until the router gives up on it: what the kernel
    // took, it took; what waits past the limit is dropped; 2 s with nothing taken closes it.
    let i = 0;
    await eventually(async () => {
      for (let k = 0; k < 50; k++) sender.send(codecs.PUBLISH, { appid: 1, receiver: 1, msgid: i++, device_id: 0, timestamp: 0n, message });
      return /imr_links_closed_total\{reason="write_limit"\} 1/.test(await metrics());
    }, 15_000, 'stuck link closed');
    assert.match(await metrics(), /imr_backlog_dropped_total [1-9]/, 'the excess was dropped and counted first');
    sender.send(codecs.PUBLISH, { appid: 1, receiver: 2, msgid: 1, device_id: 0, timestamp: 0n, message: Buffer.alloc(10) });
    await healthy.waitFrames(1);
    assert.equal((await httpJson(httpPort, '/all_online')).body, [{ appid: 1, users: [2] }], 'the stuck link\'s subscriptions are gone');
    for (const l of [stuck, healthy, sender]) l.close();
  } finally {
    assert.is(await imr.stop(), 0);
  }
});

test.run();
