import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImClient } from '../../src/client/index.ts';
import { Flag, codecs } from '../../src/protocol/index.ts';
import { eventually } from '../helpers/process.ts';
import { login, startIm, type Im } from '../helpers/im.ts';
import { loud } from '../helpers/loud.ts';

const APP = 12;
const USERS = 12;
const DEVICES = 3;
const PER_DEVICE = 60;

let im: Im;
test.before(loud(async () => { im = await startIm({ IM_SHARDS: '3' }); }));
test.after(loud(async () => { await im?.stop(); }));

test(`stress: ${USERS} users × ${DEVICES} devices over 3 shards, every device sending at once: each message arrives exactly once per device`, async () => {
  const devices: { uid: number; c: ImClient; got: Map<string, number> }[] = [];
  for (let d = 0; d < DEVICES; d++) {
    for (let u = 1; u <= USERS; u++) {
      const c = await login(im, APP, u, { deviceId: `u${u}d${d}` });
      const got = new Map<string, number>();
      c.on('im', (m, f) => {
        const key = `${m.content.toString()}|${f.flag & Flag.SELF ? 'self' : 'peer'}`;
        got.set(key, (got.get(key) ?? 0) + 1);
      });
      devices.push({ uid: u, c, got });
    }
  }
  // Deterministic traffic: device i sends PER_DEVICE messages to uids chosen by a fixed rule.
  const sent: { from: number; fromDevice: number; to: number; text: string }[] = [];
  devices.forEach((dev, i) => {
    for (let k = 0; k < PER_DEVICE; k++) {
      let to = 1 + ((i * 7 + k * 5) % USERS);
      if (to === dev.uid) to = (to % USERS) + 1;
      const text = `m${i}-${k}`;
      sent.push({ from: dev.uid, fromDevice: i, to, text });
      dev.c.post(codecs.IM, { sender: dev.uid, receiver: to, timestamp: 0, msgid: k, content: Buffer.from(text) });
    }
  });
  // Expected per device: every message to its uid (peer), and every message its siblings sent (self).
  const expected = devices.map((dev, i) => {
    const m = new Map<string, number>();
    for (const s of sent) {
      if (s.to === dev.uid) m.set(`${s.text}|peer`, 1);
      if (s.from === dev.uid && s.fromDevice !== i) m.set(`${s.text}|self`, 1);
    }
    return m;
  });
  const total = expected.reduce((n, m) => n + m.size, 0);
  await eventually(() => devices.reduce((n, d) => n + [...d.got.values()].reduce((a, b) => a + b, 0), 0) >= total, 15_000, `${total} deliveries`);
  // Nothing extra may follow: every sender's frames, then every receiver's, fenced by a PING.
  for (let i = 0; i < 2; i++) for (const d of devices) await d.c.ping();
  devices.forEach((dev, i) => {
    assert.equal([...dev.got].sort(), [...expected[i]!].sort(), `device ${i} (uid ${dev.uid}) got each message exactly once`);
  });
  for (const d of devices) d.c.destroy();
});

test.run();
