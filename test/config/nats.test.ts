import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configError } from '../helpers/config-error.ts';
import { natsConfig, natsLabel, shownNats } from '../../src/config/nats.ts';
import { serverConfig } from '../../src/config/server.ts';
import { ROUTED_MAX_BODY } from '../../src/protocol/index.ts';


test('IM_NATS_URL: servers without their credentials, user and password or a token taken out, the default port', () => {
  const c = natsConfig({ IM_NATS_URL: 'nats://im:p%40ss@h1:4222, nats://h2, tls://h3:4333' })!;
  assert.equal(c.servers, ['nats://h1:4222', 'nats://h2:4222', 'tls://h3:4333']);
  assert.equal([c.user, c.pass, c.token], ['im', 'p@ss', undefined]);
  const t = natsConfig({ IM_NATS_URL: 'nats://s3cr3t@127.0.0.1:4222' })!;
  assert.equal([t.user, t.pass, t.token], [undefined, undefined, 's3cr3t']);
  assert.is(natsLabel(t), 'nats://127.0.0.1:4222');
  assert.equal(shownNats(t), { servers: ['nats://127.0.0.1:4222'], auth: 'token', ca: undefined, prefix: 'im' });
  assert.is(natsConfig({}), undefined);
  assert.is(natsConfig({ IM_NATS_URL: '127.0.0.1:4222' })!.servers[0], 'nats://127.0.0.1:4222');
});

test('a bad IM_NATS_URL names the variable and never quotes a secret', () => {
  for (const v of ['http://h:1', 'nats://a:secret1@h:1,nats://b:secret1@h:2', 'nats://h:1/path', 'nats://x:secret1@[bad', ',']) {
    const e = configError(() => natsConfig({ IM_NATS_URL: v }));
    assert.is(e.variable, 'IM_NATS_URL', v);
    assert.not.ok(e.message.includes('secret1'), e.message);
  }
  assert.is(configError(() => natsConfig({ IM_NATS_URL: 'nats://h:1', IM_NATS_CREDS: '/no/such/file' })).variable, 'IM_NATS_CREDS');
  assert.is(configError(() => natsConfig({ IM_NATS_URL: 'nats://h:1', IM_NATS_CA: '/no/such/file' })).variable, 'IM_NATS_CA');
  assert.is(configError(() => natsConfig({ IM_NATS_URL: 'nats://h:1', IM_NATS_PREFIX: 'a..b' })).variable, 'IM_NATS_PREFIX');
});

test('NATS or routers, not both; linked through NATS, bodies fit a route message', () => {
  assert.is(configError(() => serverConfig({ IM_NATS_URL: 'nats://h:1', IM_ROUTE_ADDRS: 'h:4444' })).variable, 'IM_ROUTE_ADDRS');
  assert.is(configError(() => serverConfig({ IM_NATS_URL: 'nats://h:1', IM_GROUP_ROUTE_ADDRS: 'h:4444' })).variable, 'IM_GROUP_ROUTE_ADDRS');
  assert.is(serverConfig({ IM_NATS_URL: 'nats://h:1' }).maxBody, ROUTED_MAX_BODY);
});

test.run();
