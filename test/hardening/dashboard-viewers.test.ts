/**
 * /events is unauthenticated: one sample a second serves every viewer, and viewers beyond
 * the cap are turned away, so many streams cannot take the main thread from /healthz.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { MAX_VIEWERS } from '../../src/server/dashboard.ts';
import { eventually, httpJson } from '../helpers/process.ts';
import { startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

let im: Im;

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '2', IM_STORE: 'off' });
}));

test.after(loud(async () => {
  await im?.stop();
}));

function stream(port: number): Promise<{ status: number; req: http.ClientRequest; firstEvent: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: false });
    const req = http.get({ host: '127.0.0.1', port, path: '/events', agent }, (res) => {
      const firstEvent = new Promise<string>((r) => res.once('data', (d: Buffer) => r(d.toString())));
      resolve({ status: res.statusCode!, req, firstEvent });
    });
    req.on('error', reject);
  });
}

test(`at most ${MAX_VIEWERS} dashboard streams; every one gets the shared sample; /healthz stays quick`, async () => {
  const all = await Promise.all(Array.from({ length: MAX_VIEWERS + 10 }, () => stream(im.httpPort)));
  const ok = all.filter((s) => s.status === 200);
  assert.is(ok.length, MAX_VIEWERS);
  assert.is(all.filter((s) => s.status === 503).length, 10);
  const events = await Promise.all(ok.map((s) => s.firstEvent));
  assert.ok(events.every((e) => e.startsWith('data: {')));
  assert.is((await httpJson(im.httpPort, '/healthz')).status, 200, '/healthz answers while the streams run');
  for (const s of all) s.req.destroy();
  // Once they are gone, new viewers are let in again.
  await eventually(async () => {
    const again = await stream(im.httpPort);
    again.req.destroy();
    return again.status === 200;
  }, 5000, 'a new viewer let in');
});

test.run();
