import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { codecs } from '../../src/protocol/index.ts';
import { FakeLink } from '../helpers/link.ts';
import { eventually, httpJson, startProcess } from '../helpers/process.ts';

test('a link that stops reading is closed at the write limit; the router and other links carry on', async () => {
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
    for (let i = 0; i < 600; i++) {
      sender.send(codecs.PUBLISH, { appid: 1, receiver: 1, msgid: i, device_id: 0, timestamp: 0n, message });
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await eventually(async () => /imr_links_closed_total\{reason="write_limit"\} 1/.test((await httpJson(httpPort, '/metrics')).body), 10_000, 'stuck link closed');
    sender.send(codecs.PUBLISH, { appid: 1, receiver: 2, msgid: 1, device_id: 0, timestamp: 0n, message: Buffer.alloc(10) });
    await healthy.waitFrames(1);
    assert.equal((await httpJson(httpPort, '/all_online')).body, [{ appid: 1, users: [2] }], 'the stuck link\'s subscriptions are gone');
    for (const l of [stuck, healthy, sender]) l.close();
  } finally {
    assert.is(await imr.stop(), 0);
  }
});

test.run();
