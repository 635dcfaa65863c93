import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { eventually } from '../helpers/process.ts';
import { login, type Im } from '../helpers/im.ts';
import { startNats, type NatsCluster } from '../helpers/nats.ts';
import { reachable, startNatsIms } from '../helpers/nats-cluster.ts';
import { loud } from '../helpers/loud.ts';

/*
 * A login storm on two servers linked through NATS: thousands of users log in at once, and
 * afterwards every one of them is reachable from the other server. NATS takes a
 * connection's subscriptions in order, so once the last user of a server is reachable from
 * the other, every earlier one is subscribed too.
 */
const APP = 14;
const PER_SERVER = 1500;
let nats: NatsCluster;
let ims: Im[];
const clients: ImClient[] = [];

test.before(loud(async () => {
  nats = await startNats();
  ims = await startNatsIms(2, nats.url, { IM_STORE: 'off' });
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  for (const im of ims ?? []) assert.is(await im.stop(), 0);
  await nats?.stop();
}));

test(`${2 * PER_SERVER} users log in at once on two servers: every one is reachable from the other server`, async () => {
  const users: ImClient[][] = [[], []];
  const got = new Set<number>();
  await Promise.all([0, 1].map(async (s) => {
    for (let batch = 0; batch < PER_SERVER; batch += 100) {
      const some = await Promise.all(Array.from({ length: 100 }, (_, k) => login(ims[s]!, APP, 10_000 * (s + 1) + batch + k)));
      for (const c of some) c.on('rt', ((m: { content: Buffer }) => { if (m.content.toString() === 'storm') got.add(c.uid!); }) as never);
      users[s]!.push(...some);
      clients.push(...some);
    }
  }));
  const senders = [await login(ims[0]!, APP, 1), await login(ims[1]!, APP, 2)];
  clients.push(...senders);
  for (const s of [0, 1]) {
    const last = users[s]!.at(-1)!;
    await reachable(senders[1 - s]!, last, last.uid!);
  }
  for (const s of [0, 1]) for (const c of users[s]!) senders[1 - s]!.sendRT({ receiver: c.uid!, content: 'storm' });
  await eventually(() => got.size === 2 * PER_SERVER, 30_000, `all ${2 * PER_SERVER} reached (${got.size} so far)`);
});

test.run();
