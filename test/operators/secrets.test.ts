import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIm } from '../helpers/im.ts';
import { startProcess } from '../helpers/process.ts';

/*
 * No secret reaches a log line, /summary, /metrics or the dashboard: passwords inside the
 * URLs of the store, Redis and MySQL (also from im.cfg's DSN), the router's secret and
 * Redis, the JWT secret and the HTTP token. The services are unreachable on purpose: their
 * error lines are checked too.
 */
const SECRETS = ['pgsecret', 'redissecret', 'mysqlsecret', 'cfgsecret', 'routesecret', 'httptokensecret', 'jwt-secret-of-at-least-32-bytes-xyz', 'imrredissecret', 'imrsecret'];

const leaks = (text: string) => SECRETS.filter((s) => text.includes(s));

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
    // Some time for the unreachable services' error lines.
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(im.lines.some((l) => l.includes('"configuration"')), 'the configuration was logged');
    assert.ok(im.lines.some((l) => l.includes('postgres://im:***@127.0.0.1:1/im')), 'the store URL is shown without its password');
    assert.equal(leaks(im.lines.join('\n') + im.stderr()), []);
    assert.ok(withFile.lines.some((l) => l.includes('mysql://im:***@127.0.0.1:1/gobelieve')), 'the DSN is shown without its password');
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
    await new Promise((r) => setTimeout(r, 1500));
    const metrics = await (await fetch(`http://127.0.0.1:${imr.ready.httpPort as number}/metrics`)).text();
    assert.equal(leaks(imr.lines.join('\n') + imr.stderr() + metrics), []);
    assert.ok(imr.lines.some((l) => l.includes('redis://:***@127.0.0.1:1')));
  } finally {
    await imr.kill();
  }
});

test.run();
