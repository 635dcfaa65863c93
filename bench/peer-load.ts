/**
 * Peer-message load for the end-to-end benchmarks (bench/cluster.ts, bench/store.ts): sender
 * and receiver clients, each message stamped with its send time so that the receiver
 * measures end-to-end latency.
 */
import * as hdr from 'hdr-histogram-js';
import { ImClient } from '../src/client/index.ts';
import { codecs } from '../src/protocol/index.ts';
import { signToken } from '../src/auth/jwt.ts';

export const SECRET = 'bench-secret-bench-secret-bench-secret!!';
export const APPID = 1;
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

export async function client(port: number, uid: number): Promise<ImClient> {
  const c = await ImClient.connect({ port, uid, autoAck: false });
  if (await c.auth({ token: await signToken(SECRET, APPID, uid) }) !== 0) throw new Error('auth failed');
  return c;
}

export interface Result { perSec: number; p50: number; p99: number }

/** Senders send IMs to their receivers; `rate` paces the total (messages/s), else a window per sender. */
export async function drive(senders: ImClient[], receivers: ImClient[], seconds: number, window: number, rate?: number): Promise<Result> {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const sent = new Float64Array(senders.length);
  const got = new Float64Array(senders.length);
  let measuring = false;
  let received = 0;
  receivers.forEach((r, i) => r.on('im', (m) => {
    got[i]!++;
    if (!measuring) return;
    received++;
    h.recordValue(Math.max(1, Math.round(nowUs() - m.content.readDoubleBE(0))));
  }));
  const content = Buffer.alloc(64, 0x61);
  const send = (i: number) => {
    content.writeDoubleBE(nowUs(), 0);
    senders[i]!.post(codecs.IM, { sender: senders[i]!.uid!, receiver: receivers[i]!.uid!, timestamp: 0, msgid: 0, content: Buffer.from(content) });
    sent[i]!++;
  };
  let running = true;
  if (rate === undefined) {
    const pump = () => {
      if (!running) return;
      for (let i = 0; i < senders.length; i++) while (sent[i]! - got[i]! < window) send(i);
      setImmediate(pump);
    };
    pump();
  } else {
    // Paced: every millisecond, send what the rate allows since the start, round-robin.
    const t0 = performance.now();
    let total = 0;
    let next = 0;
    const tick = () => {
      if (!running) return;
      const due = Math.floor(((performance.now() - t0) / 1000) * rate);
      for (; total < due; total++, next = (next + 1) % senders.length) send(next);
      setTimeout(tick, 1);
    };
    tick();
  }
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const secs = (performance.now() - t0) / 1000;
  running = false;
  await new Promise((r) => setTimeout(r, 300));
  for (const r of receivers) r.removeAllListeners('im');
  return { perSec: received / secs, p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000 };
}

