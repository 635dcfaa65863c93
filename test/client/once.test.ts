import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { Flag } from '../../src/protocol/index.ts';
import { login, record, startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

/*
 * Each stored message reaches an application once, whichever way it arrives: a sync reply
 * fires no event, and a sync that goes on from the client's own key leaves out what was
 * already pushed to it.
 */
const APP = 51;
let im: Im;
const clients: ImClient[] = [];
const on = async (uid: number, device = `d${uid}`) => {
  const c = await login(im, APP, uid, { deviceId: device });
  clients.push(c);
  return c;
};
const texts = (ms: { body: unknown }[]) => ms.map((m) => (m.body as { content: Buffer }).content.toString());

test.before(loud(async () => { im = await startIm({ IM_SHARDS: '2' }); }));
test.after(loud(async () => {
  for (const c of clients) c.destroy();
  await im?.stop();
}));

test('offline messages come from sync() alone, pushed ones from events alone; sync() goes on from lastKey', async () => {
  const a = await on(1);
  for (const t of ['one', 'two']) assert.is((await a.sendIM({ receiver: 2, content: t })).status, 0);
  const b = await on(2);
  const events = record<[{ content: Buffer }]>(b, 'im');
  const first = await b.sync();
  assert.equal(texts(first.messages), ['one', 'two']);
  assert.is(b.lastKey, first.key);
  assert.equal((await events.done()).length, 0, 'no im event for a synced message');
  // Online now: the next arrives as an event, following on from the key.
  const pushed = b.next('im');
  await a.sendIM({ receiver: 2, content: 'three' });
  assert.is((await pushed)[0].content.toString(), 'three');
  assert.is(b.lastKey, first.key + 1, 'the key moved over the pushed message');
  const again = await b.sync();
  assert.equal(texts(again.messages), [], 'not a second time');
  // A key asked for by name is the server's answer as it is.
  assert.equal(texts((await b.sync(first.key)).messages), ['three']);
});

test('a push that does not follow on from the key (a second device that has not synced) is delivered once too', async () => {
  const a = await on(1);
  const b2 = await on(2, 'second-device');
  const pushed = b2.next('im');
  await a.sendIM({ receiver: 2, content: 'four' });
  assert.is((await pushed)[0].content.toString(), 'four');
  assert.is(b2.lastKey, undefined, 'no key yet: the push cannot move it');
  const r = await b2.sync();
  assert.equal(texts(r.messages), ['one', 'two', 'three'], 'everything stored, less what was pushed');
  assert.is((await b2.sync()).messages.length, 0);
});

test('a client given the key it had (lastKey) goes on from there', async () => {
  const a = await on(1);
  const old = await on(2, 'old-phone');
  const { key } = await old.sync();
  old.destroy();
  await a.sendIM({ receiver: 2, content: 'five' });
  const back = await login(im, APP, 2, { deviceId: 'old-phone', lastKey: key });
  clients.push(back);
  assert.equal(texts((await back.sync()).messages), ['five']);
});

/*
 * The SELF rule: a message this client sent never comes back in a sync that goes on from its
 * key, held or not (the application has it); one sent from another device does (flag 0), and
 * one this device sent in an earlier connection does, flagged SELF.
 */
test('own messages: not from this client again; from another device, flag 0; from this device earlier, flagged SELF', async () => {
  const phone = await on(61, 'phone');
  assert.is((await phone.sendIM({ receiver: 62, content: 'sent here' })).status, 0);
  assert.is((await phone.sendIM({ receiver: 62, content: 'sent here' })).status, 0);
  assert.equal(texts((await phone.sync()).messages), [], 'no key yet, and still not its own two');
  const laptop = await on(61, 'laptop');
  assert.is((await laptop.sendIM({ receiver: 62, content: 'from the laptop' })).status, 0);
  const onPhone = (await phone.sync()).messages;
  assert.equal(texts(onPhone), ['from the laptop']);
  assert.is(onPhone[0]!.flag & Flag.SELF, 0, 'another device\'s: not SELF');
  // The same device in a new connection, from the start: its own are SELF, the laptop's not.
  const again = await on(61, 'phone');
  const all = (await again.sync()).messages;
  assert.equal(texts(all), ['sent here', 'sent here', 'from the laptop']);
  assert.equal(all.map((m) => (m.flag & Flag.SELF) !== 0), [true, true, false]);
});

test.run();
