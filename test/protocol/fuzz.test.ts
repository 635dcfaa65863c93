import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLIENT_CMDS, FrameDecoder, MAX_BODY, MESSAGES, ProtocolError, codecByCmd, codecs, encodeFrame, type Frame, type MessageName,
} from '../../src/protocol/index.ts';

/** Deterministic PRNG (mulberry32) so that a failing seed can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.FUZZ_SEED ?? 20261128);
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 200_000);

function validFrames(r: () => number): Buffer[] {
  const inner = encodeFrame(codecs.IM, { sender: 1, receiver: 2, timestamp: 3, msgid: 4, content: Buffer.from('x') }, 1, 2);
  const samples: Buffer[] = [
    encodeFrame(codecs.AUTH_TOKEN, { platform_id: 1, token: 'tok', device_id: 'dev' }, 1, 2),
    encodeFrame(codecs.IM, { sender: 1, receiver: 2, timestamp: 3, msgid: 4, content: Buffer.alloc(64, 1) }, 2, 2),
    encodeFrame(codecs.IM, { sender: 1, receiver: 2, timestamp: 0, msgid: 4, content: Buffer.alloc(3) }, 2, 0),
    encodeFrame(codecs.ACK, { seq: 9, status: 1 }, 3, 2),
    encodeFrame(codecs.ROOM_IM, { sender: 5, receiver: 6, content: Buffer.alloc(10, 7) }, 4, 2),
    encodeFrame(codecs.METADATA, { sync_key: 1, prev_sync_key: 2 }, 5, 2),
    encodeFrame(codecs.CUSTOMER_V2, { sender_appid: 1, sender: 2, receiver_appid: 3, receiver: 4, timestamp: 5, content: Buffer.alloc(2) }, 6, 2),
    encodeFrame(codecs.PUBLISH, { appid: 1, receiver: 2, msgid: 3, device_id: 4, timestamp: 5n, message: inner }, 7, 0),
    encodeFrame(codecs.PUSH, { appid: 1, receivers: [1, 2, 3], message: inner }, 8, 0),
    encodeFrame(codecs.PING, {}, 9, 2),
  ];
  return Array.from({ length: 1 + Math.floor(r() * 4) }, () => samples[Math.floor(r() * samples.length)]!);
}

function mutate(b: Buffer, r: () => number): Buffer {
  const out = Buffer.from(b);
  switch (Math.floor(r() * 6)) {
    case 0: { // flip bytes
      const n = 1 + Math.floor(r() * 4);
      for (let i = 0; i < n; i++) out[Math.floor(r() * out.length)] ^= 1 + Math.floor(r() * 255);
      return out;
    }
    case 1: return out.subarray(0, Math.floor(r() * out.length)); // truncated
    case 2: out.writeInt32BE(MAX_BODY + 1 + Math.floor(r() * 1e6), 0); return out; // oversized length
    case 3: out.writeInt32BE(-1 - Math.floor(r() * 1e6), 0); return out; // negative length
    case 4: out[8] = Math.floor(r() * 256); return out; // unknown or foreign cmd
    default: { // random bytes
      const n = Math.floor(r() * 80);
      return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
    }
  }
}

function chunk(b: Buffer, r: () => number): Buffer[] {
  const parts: Buffer[] = [];
  for (let p = 0; p < b.length;) {
    const n = 1 + Math.floor(r() * Math.min(40, b.length - p));
    parts.push(b.subarray(p, p + n));
    p += n;
  }
  return parts;
}

interface Result { frames: string[]; error: string | undefined }

function decode(parts: Buffer[], accept: Uint8Array | undefined): Result {
  const d = new FrameDecoder({ accept });
  const frames: string[] = [];
  const onFrame = (f: Frame) => {
    const codec = codecByCmd[f.cmd];
    const msg = codec?.forVersion(f.version).decode(f.body, 0, f.body.length);
    if (msg instanceof ProtocolError) assert.ok(msg.code.startsWith('ERR_'));
    frames.push(`${f.seq}:${f.cmd}:${f.version}:${f.flag}:${f.body.toString('hex')}`);
  };
  let error: string | undefined;
  for (const p of parts) {
    const e = d.push(p, onFrame);
    if (e !== undefined) {
      assert.instance(e, ProtocolError);
      error = e.code;
      break;
    }
  }
  return { frames, error };
}

test(`${INPUTS} random and mutated inputs in random chunkings: frames or a typed error, never a throw`, () => {
  const r = rng(SEED);
  const errors = new Map<string, number>();
  let frames = 0;
  for (let i = 0; i < INPUTS; i++) {
    const frames0 = validFrames(r);
    const k = Math.floor(r() * frames0.length);
    if (r() < 0.9) frames0[k] = mutate(frames0[k]!, r);
    const input = Buffer.concat(frames0);
    const accept = r() < 0.5 ? CLIENT_CMDS : undefined;
    let whole: Result;
    let split: Result;
    try {
      whole = decode([input], accept);
      split = decode(chunk(input, r), accept);
    } catch (e) {
      throw new Error(`input ${i} (seed ${SEED}) threw: ${input.toString('hex')}`, { cause: e });
    }
    // Chunking must not change what is decoded, except that an error cannot be seen
    // before the bytes that reveal it arrive, which a single chunk always provides.
    assert.equal(split, whole, `input ${i} decodes the same however it is split`);
    frames += whole.frames.length;
    if (whole.error) errors.set(whole.error, (errors.get(whole.error) ?? 0) + 1);
  }
  assert.ok(frames > INPUTS, 'valid frames still came through');
  for (const code of ['ERR_BODY_LENGTH', 'ERR_CMD_NOT_ALLOWED']) assert.ok((errors.get(code) ?? 0) > 0, `${code} was exercised`);
});

test('random bodies through every message decoder never throw', () => {
  const r = rng(SEED + 1);
  const names = Object.keys(MESSAGES) as MessageName[];
  for (let i = 0; i < 20_000; i++) {
    const body = Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
    for (const name of names) {
      for (const v of [0, 1, 2]) {
        const m = codecs[name].forVersion(v).decode(body, 0, body.length);
        if (m instanceof ProtocolError) assert.ok(m.code.startsWith('ERR_'));
      }
    }
  }
});

test.run();
