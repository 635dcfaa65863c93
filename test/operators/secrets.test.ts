import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIm } from '../helpers/im.ts';
import { eventually, startProcess, type Started } from '../helpers/process.ts';

/*
 * No secret reaches a log line, /summary, /metrics or the dashboard: passwords inside the
 * URLs of the store, Redis and MySQL (also from im.cfg's DSN), the router's secret and
 * Redis, the JWT secret and the HTTP token. The services are unreachable on purpose: their
 * error lines are checked too.
 */
const SECRETS = ['pgsecret', 'redissecret', 'mysqlsecret', 'cfgsecret', 'routesecret', 'httptokensecret', 'jwt-secret-of-at-least-32-bytes-xyz', 'imrredissecret', 'imrsecret'];

const leaks = (text: string) => SECRETS.filter((s) => text.includes(s));

const has = (p: Started, re: RegExp) => p.lines.some((l) => re.test(l));

/*
 * Secrets left at the example's placeholder (deploy/*.env.example) start the server, with a
 * warning naming each.
 */
test('secrets still at the example\'s placeholders: one warning for each', async () => {
  const im = await startIm({ IM_SHARDS: '1', IM_STORE: 'off', IM_JWT_SECRET: 'change-me-to-at-least-32-random-bytes', IM_HTTP_TOKEN: 'change-me' });
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_SECRET: 'change-me-too' });
  try {
    for (const name of ['IM_JWT_SECRET', 'IM_HTTP_TOKEN']) {
      assert.is(im.lines.filter((l) => l.includes(`${name} is still the example's placeholder`)).length, 1, name);
    }
    assert.not.ok(has(im, /IM_ROUTE_SECRET is still/), 'not set: no warning');
    assert.ok(has(imr, /IMR_SECRET is still the example's placeholder/));
  } finally {
    assert.is(await im.stop(), 0);
    assert.is(await imr.stop(), 0);
  }
});

test('an access server started with passworded URLs logs, serves and reports none of them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-secrets-'));
  const cfg = join(dir, 'im.cfg');
  writeFileSync(cfg, 'mysqldb_datasource = "im:cfgsecret@tcp(127.0.0.1:1)/gobelieve"\n');
  const im = await startIm({
    IM_STORE: 'postgres', IM_STORE_URL: 'postgres://im:pgsecret@127.0.0.1:1/im',
    IM_REDIS_URL: 'redis://:redissecret@127.0.0.1:1/0', IM_ROUTE_SECRET: 'routesecret', IM_HTTP_TOKEN: 'httptokensecret',
    IM_JWT_SECRET: 'jwt-secret-of-at-least-32-bytes-xyz', IM_LOG_LEVEL: 'debug', IM_SHARDS: '1',
  });
  const withFile = await startProcess('src/server/main.ts', {
    IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_SHARDS: '1', IM_STORE: 'off', IM_LOG_LEVEL: 'debug',
    IM_JWT_SECRET: 'jwt-secret-of-at-least-32-bytes-xyz', IM_GROUP_DB: join(dir, 'groups.db'),
  }, 15_000, ['--config', cfg]);
  try {
    const auth = { headers: { authorization: 'Bearer httptokensecret' } };
    const pages = await Promise.all(['/summary', '/metrics', '/'].map(async (p) => (await fetch(`http://127.0.0.1:${im.httpPort}${p}`, auth)).text()));
    for (const [i, page] of pages.entries()) assert.equal(leaks(page), [], `page ${i}`);
    // The unreachable services' error lines, then everything each process writes until it has exited.
    await eventually(() => has(im, /Redis \(IM_REDIS_URL\) unreachable/) && has(im, /message store failed/), 10_000, 'the services\' error lines');
    await eventually(() => has(withFile, /"level":(40|50).*(MySQL|mysql)/), 10_000, 'the group source\'s error line');
    assert.is(await im.stop(), 0);
    assert.is(await withFile.stop(), 0);
    assert.ok(has(im, /"configuration"/), 'the configuration was logged');
    assert.ok(has(im, /postgres:\/\/im:\*\*\*@127\.0\.0\.1:1\/im/), 'the store URL is shown without its password');
    assert.equal(leaks(im.lines.join('\n') + im.stderr()), []);
    assert.ok(has(withFile, /mysql:\/\/im:\*\*\*@127\.0\.0\.1:1\/gobelieve/), 'the DSN is shown without its password');
    assert.equal(leaks(withFile.lines.join('\n') + withFile.stderr()), []);
  } finally {
    await im.kill();
    await withFile.kill();
  }
});

test('a router started with a passworded Redis and a secret logs neither', async () => {
  const imr = await startProcess('src/router/main.ts', {
    IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_REDIS_URL: 'redis://:imrredissecret@127.0.0.1:1', IMR_SECRET: 'imrsecret', IMR_LOG_LEVEL: 'debug',
  });
  try {
    await eventually(() => has(imr, /"level":(40|50).*[Rr]edis/), 10_000, 'the Redis error line');
    const metrics = await (await fetch(`http://127.0.0.1:${imr.ready.httpPort as number}/metrics`)).text();
    assert.is(await imr.stop(), 0);
    assert.equal(leaks(imr.lines.join('\n') + imr.stderr() + metrics), []);
    assert.ok(has(imr, /redis:\/\/:\*\*\*@127\.0\.0\.1:1/));
  } finally {
    await imr.kill();
  }
});

test.run();
