import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { eventually } from '../helpers/process.ts';
import { login, type Im } from '../helpers/im.ts';
import { startNats, type NatsCluster } from '../helpers/nats.ts';
import { natsServerOf, reachable, startNatsIms } from '../helpers/nats-cluster.ts';
import { StoreLoad } from '../helpers/store-load.ts';
import { loud } from '../helpers/loud.ts';

/*
 * A NATS node dies (SIGKILL) or hangs (SIGSTOP) while three access servers exchange
 * messages through it: the servers on it move to another node and their interest follows,
 * realtime messages flow again between every pair, no acknowledged IM is lost or stored
 * twice, a user who logs in right after is reachable, and the node's return changes nothing.
 */
const APP = 12;
let nats: NatsCluster;
let ims: Im[];
const clients: ImClient[] = [];

async function on(im: Im, uid: number): Promise<ImClient> {
  const c = await login(im, APP, uid, { ackTimeoutMs: 10_000 });
  clients.push(c);
  return c;
}

test.before(loud(async () => {
  nats = await startNats();
  ims = await startNatsIms(3, nats.url);
}));

test.after(loud(async () => {
  for (const c of clients) c.destroy();
  for (const im of ims ?? []) assert.is(await im.stop(), 0);
  await nats?.stop();
}));

/** A sender on each server and its receiver on each other server, all online; RT probes between every pair. */
async function pairs(base: number) {
  const out: { from: number; to: number; sender: ImClient; receiver: ImClient; uid: number; live: string[] }[] = [];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      const uid = base + 10 * i + j;
      const sender = await on(ims[i]!, uid + 100);
      const receiver = await on(ims[j]!, uid);
      const live: string[] = [];
      receiver.on('im', ((m: { content: Buffer }) => live.push(m.content.toString())) as never);
      out.push({ from: i, to: j, sender, receiver, uid, live });
    }
  }
  for (const p of out) await reachable(p.sender, p.receiver, p.uid);
  return out;
}

const everyPairReachable = (ps: Awaited<ReturnType<typeof pairs>>) => Promise.all(ps.map((p) => reachable(p.sender, p.receiver, p.uid, 20_000)));

test('a node killed under load: every pair talks again, no acknowledged IM lost or stored twice, a fresh login is reachable, the node\'s return changes nothing', async () => {
  const ps = await pairs(1000);
  const loads = ps.map((p) => new StoreLoad(p.sender, p.uid, 4));
  const victim = nats.indexOf((await natsServerOf(ims[0]!)).server);
  try {
    await Promise.all(loads.map((l) => l.more(30, 'saving before the fault')));
    const moved = (await Promise.all(ims.map(natsServerOf))).map((n) => nats.indexOf(n.server) === victim);
    await nats.kill(victim);
    // Each server that was on the node is on another one, up.
    await eventually(async () => (await Promise.all(ims.map(natsServerOf))).every((n, k) => n.state === 'up' && (!moved[k] || nats.indexOf(n.server) !== victim)), 15_000, 'servers on other nodes');
    await everyPairReachable(ps);
    // A user who logs in on a moved server right now is reachable from the others.
    const fresh = await on(ims[0]!, 5000);
    await reachable(ps.find((p) => p.from === 1)!.sender, fresh, 5000);
    await reachable(ps.find((p) => p.from === 2)!.sender, fresh, 5000);
    await Promise.all(loads.map((l) => l.more(30, 'saving after the fault')));
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
  }
  for (let k = 0; k < ps.length; k++) {
    await loads[k]!.verify(ps[k]!.receiver);
    const twice = ps[k]!.live.filter((c, i, all) => all.indexOf(c) !== i && !c.startsWith('probe'));
    assert.equal(twice, [], 'no message delivered twice');
  }
  // The node comes back: nothing changes for anyone.
  const before = await Promise.all(ims.map(natsServerOf));
  await nats.restart(victim);
  await everyPairReachable(ps);
  const after = await Promise.all(ims.map(natsServerOf));
  assert.equal(after.map((n) => [n.server, n.reconnects]), before.map((n) => [n.server, n.reconnects]));
});

test('a node that hangs (SIGSTOP): the servers on it find it out by its missed PINGs and move; every pair talks again', async () => {
  const ps = await pairs(2000);
  const victim = nats.indexOf((await natsServerOf(ims[1]!)).server);
  const moved = (await Promise.all(ims.map(natsServerOf))).map((n) => nats.indexOf(n.server) === victim);
  nats.pause(victim);
  try {
    await eventually(async () => (await Promise.all(ims.map(natsServerOf))).every((n, k) => n.state === 'up' && (!moved[k] || nats.indexOf(n.server) !== victim)), 30_000, 'servers off the hung node');
    await everyPairReachable(ps);
  } finally {
    nats.resume(victim);
  }
  await everyPairReachable(ps);
});

test.run();
