/**
 * Codec speed: body decode and frame encode of ROOM_IM (64-byte content), RT and PUBLISH,
 * and the streaming decoder against parsing the same frames pre-split.
 * Run: npm run bench:codec
 */
import { FrameDecoder, codecs, encodeFrame, parseFrame, type Frame } from '../src/protocol/index.ts';
import { measure, ratio } from './harness.ts';

const N = 1000;
const content = Buffer.alloc(64, 0x61);
const roomMsg = { sender: 1001, receiver: 555, content };
const rtMsg = { sender: 1001, receiver: 1002, content };
const roomFrame = encodeFrame(codecs.ROOM_IM, roomMsg, 1, 2);
const publishMsg = { appid: 7, receiver: 1002, msgid: 0, device_id: 3, timestamp: 1_700_000_000_000_000_000n, message: roomFrame };
const rtFrame = encodeFrame(codecs.RT, rtMsg, 1, 2);
const publishFrame = encodeFrame(codecs.PUBLISH, publishMsg, 1, 0);

const roomBody = codecs.ROOM_IM.forVersion(2);
const rtBody = codecs.RT.forVersion(2);
const pubBody = codecs.PUBLISH.forVersion(0);

// One chunk of N back-to-back frames, and the same stream cut into 1400-byte segments.
const stream = Buffer.concat(Array.from({ length: N }, () => roomFrame));
const segments: Buffer[] = [];
for (let p = 0; p < stream.length; p += 1400) segments.push(stream.subarray(p, p + 1400));
const preSplit = Array.from({ length: N }, () => Buffer.from(roomFrame));

let sink = 0;
const onFrame = (f: Frame) => {
  const m = roomBody.decode(f.body, 0, f.body.length) as { sender: number };
  sink += m.sender;
};

const results = await measure('codec', [
  { name: 'ROOM_IM decode', ops: N, fn: () => { for (let i = 0; i < N; i++) sink += (roomBody.decode(roomFrame, 12, roomFrame.length) as { sender: number }).sender; } },
  { name: 'ROOM_IM encode', ops: N, fn: () => { for (let i = 0; i < N; i++) sink += encodeFrame(codecs.ROOM_IM, roomMsg, i, 2).length; } },
  { name: 'RT decode', ops: N, fn: () => { for (let i = 0; i < N; i++) sink += (rtBody.decode(rtFrame, 12, rtFrame.length) as { sender: number }).sender; } },
  { name: 'RT encode', ops: N, fn: () => { for (let i = 0; i < N; i++) sink += encodeFrame(codecs.RT, rtMsg, i, 2).length; } },
  { name: 'PUBLISH decode', ops: N, fn: () => { for (let i = 0; i < N; i++) sink += (pubBody.decode(publishFrame, 12, publishFrame.length) as { appid: number }).appid; } },
  { name: 'PUBLISH encode', ops: N, fn: () => { for (let i = 0; i < N; i++) sink += encodeFrame(codecs.PUBLISH, publishMsg, i, 0).length; } },
  { name: 'pre-split frame: parse + decode', ops: N, fn: () => { for (const b of preSplit) onFrame(parseFrame(b) as Frame); } },
  { name: 'stream, one chunk: decode', ops: N, fn: () => { new FrameDecoder().push(stream, onFrame); } },
  { name: 'stream, 1400-byte segments: decode', ops: N, fn: () => { const d = new FrameDecoder(); for (const s of segments) d.push(s, onFrame); } },
]);

const base = results.get('pre-split frame: parse + decode')!;
console.log(`\nstreaming (one chunk) vs pre-split: ${ratio(results.get('stream, one chunk: decode')!, base)}x`);
console.log(`streaming (1400-byte segments) vs pre-split: ${ratio(results.get('stream, 1400-byte segments: decode')!, base)}x`);
if (sink === 42) console.log('');
