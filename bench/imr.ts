/**
 * Router throughput and latency: two access-server links on loopback, one publishing PUBLISH
 * frames (64-byte embedded ROOM_IM) to uids the other subscribed, with a window of frames in
 * flight. The same traffic through a pass-through TCP relay (no decoding, no routing),
 * measured in the same run, is the ceiling.
 * Run: npm run bench:imr   (BENCH_SECONDS, BENCH_WINDOW to change the run)
 */
import net from 'node:net';
import { once } from 'node:events';
import * as hdr from 'hdr-histogram-js';
import { FrameDecoder, HEADER_SIZE, codecs, encodeFrame } from '../src/protocol/index.ts';
import { startProcess } from '../test/helpers/process.ts';
import { fmt } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 4000);
const UIDS = 1000;
const BATCH = 200;

const inner = encodeFrame(codecs.ROOM_IM, { sender: 1, receiver: 2, content: Buffer.alloc(64, 0x61) }, 1, 2);
/** Offset of the route message's timestamp inside a PUBLISH frame: header + 4 × int64. */
const TS_AT = HEADER_SIZE + 32;

/** BATCH PUBLISH frames back to back; timestamps are patched per send. */
function batchTemplate(): Buffer {
  return Buffer.concat(Array.from({ length: BATCH }, (_, i) =>
    encodeFrame(codecs.PUBLISH, { appid: 1, receiver: i % UIDS, msgid: i, device_id: 1, timestamp: 0n, message: inner }, i + 1, 0)));
}

interface Result { framesPerSec: number; p50us: number; p99us: number }

async function drive(pub: net.Socket, sub: net.Socket): Promise<Result> {
  const template = batchTemplate();
  const frameLen = template.length / BATCH;
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  let inFlight = 0;
  let received = 0;
  let measuring = false;
  let stop = false;
  const decoder = new FrameDecoder();
  sub.on('data', (chunk: Buffer) => {
    const now = process.hrtime.bigint();
    decoder.push(chunk, (f) => {
      inFlight--;
      if (!measuring) return;
      received++;
      hist.recordValue(Number((now - f.body.readBigInt64BE(TS_AT - HEADER_SIZE)) / 1000n));
    });
    pump();
  });
  function pump(): void {
    while (!stop && inFlight + BATCH <= WINDOW) {
      const b = Buffer.from(template);
      const ts = process.hrtime.bigint();
      for (let i = 0; i < BATCH; i++) b.writeBigInt64BE(ts, i * frameLen + TS_AT);
      inFlight += BATCH;
      if (!pub.write(b)) break;
    }
  }
  pub.on('drain', pump);
  pump();
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const secs = (performance.now() - t0) / 1000;
  stop = true;
  return { framesPerSec: received / secs, p50us: hist.getValueAtPercentile(50), p99us: hist.getValueAtPercentile(99) };
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  s.setNoDelay(true);
  return s;
}

async function viaRouter(): Promise<Result> {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'warn' });
  try {
    const port = imr.ready.port as number;
    const sub = await connect(port);
    const subs = Buffer.concat(Array.from({ length: UIDS }, (_, uid) => encodeFrame(codecs.SUBSCRIBE, { appid: 1, uid, online: 1 }, uid + 1, 0)));
    sub.write(subs);
    await new Promise((r) => setTimeout(r, 300));
    const pub = await connect(port);
    const r = await drive(pub, sub);
    pub.destroy();
    sub.destroy();
    return r;
  } finally {
    await imr.stop();
  }
}

async function viaRelay(): Promise<Result> {
  const relay = await startProcess('bench/fixtures/relay.ts', {});
  try {
    const port = relay.ready.port as number;
    const pub = await connect(port);
    await new Promise((r) => setTimeout(r, 50));
    const sub = await connect(port);
    await new Promise((r) => setTimeout(r, 50));
    const r = await drive(pub, sub);
    pub.destroy();
    sub.destroy();
    return r;
  } finally {
    await relay.stop();
  }
}

const relay = await viaRelay();
const routed = await viaRouter();
console.log(`\n## imr: PUBLISH link → router → link (window ${WINDOW}, ${SECONDS} s, ${UIDS} uids)`);
console.log('| path | frames/s | p50 µs | p99 µs | vs relay |');
console.log('|---|---:|---:|---:|---:|');
console.log(`| TCP relay, no routing (ceiling) | ${fmt(relay.framesPerSec)} | ${relay.p50us} | ${relay.p99us} | 1.00 |`);
console.log(`| imr | ${fmt(routed.framesPerSec)} | ${routed.p50us} | ${routed.p99us} | ${(routed.framesPerSec / relay.framesPerSec).toFixed(2)} |`);
