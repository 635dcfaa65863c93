/// <reference lib="dom" />
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { ImClient } from '../../src/client/index.ts';
import { codecs } from '../../src/protocol/index.ts';
import { login, startIm, type Im } from '../helpers/im.ts';
import { DASHBOARD_PORT, serverConfig } from '../../src/config/server.ts';
import { loud } from '../helpers/loud.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = new URL('../artifacts/', import.meta.url).pathname;

let im: Im;
let browser: Browser;
const clients: ImClient[] = [];

test.before(loud(async () => {
  im = await startIm({ IM_SHARDS: '2' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Playwright gives the browser a fresh profile; these keep it off the (closed) network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await browser?.close();
  await im?.stop();
}));

test('the dashboard\'s default port is one browsers open; the HTTP API\'s 6666 is not', async () => {
  // Chromium refuses an unsafe port before it connects: no server is needed to tell them apart.
  const page = await browser.newPage();
  const refusal = (port: number) => page.goto(`http://127.0.0.1:${port}/`, { timeout: 10_000 }).then(() => 'opened', (e: Error) => e.message);
  assert.match(await refusal(6666), /ERR_UNSAFE_PORT/, 'the check can tell');
  assert.not.match(await refusal(DASHBOARD_PORT), /ERR_UNSAFE_PORT/);
  assert.is(serverConfig({}).dashboardPort, DASHBOARD_PORT);
  await page.close();
});

test('the dashboard loads in a real browser and its figures move with traffic', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`http://127.0.0.1:${im.dashboardPort}/`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', null, { timeout: 10_000 });
  const value = (id: string) => page.$eval(`#${id}`, (e) => Number((e as HTMLElement).dataset.value ?? 'NaN'));
  const before = await value('msgs-in');
  for (let uid = 1; uid <= 6; uid++) clients.push(await login(im, 1, uid));
  const end = Date.now() + 2500;
  let i = 0;
  while (Date.now() < end) {
    const c = clients[i % 6]!;
    c.post(codecs.IM, { sender: c.uid!, receiver: 1 + ((i + 1) % 6), timestamp: 0, msgid: i, content: Buffer.from('dashboard traffic') });
    if (++i % 20 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  await page.waitForFunction((b) => Number(document.getElementById('msgs-in')!.dataset.value) > b, before, { timeout: 5000 });
  await page.waitForTimeout(1200);
  assert.ok((await value('msgs-in')) - before >= i / 2, 'messages in moved with the traffic');
  assert.is(await value('connections'), 6);
  assert.ok((await value('frames-out')) > 0);
  // The rate chart has drawn something besides its axes.
  const inked = await page.$eval('#rates', (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let p = 0; p < d.length; p += 4) if (d[p + 2]! > 200 && d[p]! < 120) n++; // the blue "in" line
    return n;
  });
  assert.ok(inked > 50, `the messages-per-second chart shows a line (${inked} px)`);
  assert.match(await page.$eval('#links', (e) => e.textContent ?? ''), /standalone/);
  assert.match(await page.$eval('#store-state', (e) => e.textContent ?? ''), /sqlite · up/, 'the store panel names the engine and its state');
  const identity = await page.$eval('#identity', (e) => e.textContent ?? '');
  assert.match(identity, new RegExp(`tcp :${im.port} .*http :${im.httpPort} · v\\d+\\.\\d+\\.\\d+ · up \\d+`), `which server this is: ${identity}`);
  assert.match(await page.$eval('main', (e) => e.textContent ?? ''), /last 60 s/, 'the time axis says what it spans');
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard.png') });
});

/*
 * A quiet server (about ten messages a second, as a first day's traffic): the chart draws its
 * first seconds at once, its axis counts in round steps, and the header keeps what is live
 * (connections, users) apart from what counts since start. Checked in a screenshot of the
 * chart as Chromium painted it, decoded by the page itself, not only in the DOM.
 */
test('at ten messages a second: the rate chart shows them in its screenshot, on a round axis; live counts apart from totals', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`http://127.0.0.1:${im.dashboardPort}/`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', null, { timeout: 10_000 });
  const [a, b] = [await login(im, 2, 1), await login(im, 2, 2)];
  clients.push(a, b);
  const ticks = () => page.$eval('#rates', (c) => (c as HTMLElement).dataset.ticks ?? '');
  let sent = 0;
  // Paced at about ten a second for four seconds: the chart's first samples.
  const startTicks = await ticks();
  for (let i = 0; i < 40; i++) {
    await a.sendIM({ receiver: 2, content: `slow ${sent++}` });
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(startTicks, /^0(,\d+)+$/);
  const axis = (await ticks()).split(',').map(Number);
  assert.ok(axis.length >= 2 && axis.length <= 6, `ticks ${axis}`);
  const step = axis[1]! - axis[0]!;
  assert.ok(Number.isInteger(step) && /^[125]0*$/.test(String(step)), `a round step: ${axis}`);
  axis.forEach((v, i) => assert.is(v, i * step, `evenly spaced: ${axis}`));
  assert.equal((await page.$eval('#drops', (c) => (c as HTMLElement).dataset.ticks)), '0,1', 'an empty chart: 0 and 1');
  // The chart as painted: a screenshot of the canvas, decoded in the page, has the blue "in" line.
  const shot = (await page.locator('#rates').screenshot()).toString('base64');
  const blue = await page.evaluate(async (png) => {
    const img = new Image();
    img.src = `data:image/png;base64,${png}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let p = 0; p < d.length; p += 4) if (d[p + 2]! > 200 && d[p]! < 120 && d[p + 1]! > 150) n++;
    return n;
  }, shot);
  assert.ok(blue > 40, `the chart shows the messages in its screenshot (${blue} blue px)`);
  // Live counts under "now", totals under "since start".
  const now = await page.$eval('#now', (e) => e.textContent ?? '');
  const totals = await page.$eval('#totals', (e) => e.textContent ?? '');
  assert.match(now, /now:\s+connections\s+\d+\s+users\s+\d+/);
  assert.match(totals, /since start:\s+messages in\s+\d+/);
  assert.not.match(totals, /connections|users/);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard-quiet.png') });
  await page.close();
});

test.run();
