/**
 * Super-group fan-out: one group of M members connected over the shards of one access
 * server, one sender; member deliveries/s against room fan-out to the same M connections,
 * measured in the same run on the same server.
 * Run: npm run bench:group   (GROUP_MEMBERS, default 5000; GROUP_SHARDS, default 2; GROUP_SECONDS)
 */
import net from 'node:net';
import { once } from 'node:events';
import { signToken } from '../src/auth/jwt.ts';
import { Cmd, FrameDecoder, codecs, encodeFrame } from '../src/protocol/index.ts';
import { startProcess } from '../test/helpers/process.ts';
import { fmt } from './harness.ts';

const M = Number(process.env.GROUP_MEMBERS ?? 5000);
const SHARDS = process.env.GROUP_SHARDS ?? '2';
const SECONDS = Number(process.env.GROUP_SECONDS ?? 4);
const WINDOW = 8;
const SECRET = 'bench-secret-bench-secret-bench-secret!!';
const APPID = 1;
const ROOM = 77;
const SOURCES = ['127.0.0.2', '127.0.0.3'];

const server = await startProcess('src/server/main.ts', {
  IM_SHARDS: SHARDS, IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
  IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off', IM_QUEUE_LIMIT: '100000',
});
const port = server.ready.tcp as number;

/** A member: a bare socket that authenticates, enters the room, and counts what it receives. */
const counts = { [Cmd.GROUP_IM]: 0, [Cmd.ROOM_IM]: 0 } as Record<number, number>;
let probe = 0;
async function member(uid: number, first: boolean): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress: SOURCES[uid % SOURCES.length] });
  await once(s, 'connect');
  const d = new FrameDecoder();
  let authed: () => void;
  const ok = new Promise<void>((r) => { authed = r; });
  s.on('data', (c: Buffer) => d.push(c, (f) => {
    if (f.cmd === Cmd.AUTH_STATUS) return authed();
    if (f.cmd in counts) counts[f.cmd]!++;
    if (first) probe++;
  }));
  s.write(encodeFrame(codecs.AUTH_TOKEN, { platform_id: 2, token: await signToken(SECRET, APPID, uid), device_id: `m${uid}` }, 1, 2));
  await ok;
  s.write(encodeFrame(codecs.ENTER_ROOM, { room_id: ROOM }, 2, 2));
  return s;
}

try {
  const members: net.Socket[] = [];
  for (let i = 0; i < M; i += 250) members.push(...await Promise.all(Array.from({ length: Math.min(250, M - i) }, (_, k) => member(100 + i + k, i + k === 0))));
  const senderUid = 1;
  const sender = await member(senderUid, false);
  const res = await fetch(`http://127.0.0.1:${server.ready.http}/create_group`, {
    method: 'POST', body: JSON.stringify({ appid: APPID, master: senderUid, super: true, members: members.map((_, i) => 100 + i) }),
  });
  const gid = ((await res.json()) as { data: { group_id: number } }).data.group_id;

  async function run(cmd: number): Promise<number> {
    let sent = 0;
    let seq = 10;
    let running = true;
    const content = Buffer.alloc(64, 0x61);
    const frame = () => cmd === Cmd.GROUP_IM
      ? encodeFrame(codecs.GROUP_IM, { sender: senderUid, receiver: gid, timestamp: 0, msgid: 0, content }, ++seq, 2)
      : encodeFrame(codecs.ROOM_IM, { sender: senderUid, receiver: ROOM, content }, ++seq, 2);
    const start = probe;
    const pump = () => {
      if (!running) return;
      while (sent - (probe - start) < WINDOW) {
        sender.write(frame());
        sent++;
      }
      setImmediate(pump);
    };
    pump();
    await new Promise((r) => setTimeout(r, 1000));
    const c0 = counts[cmd]!;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const perSec = (counts[cmd]! - c0) / ((performance.now() - t0) / 1000);
    running = false;
    await new Promise((r) => setTimeout(r, 500));
    return perSec;
  }

  const room = await run(Cmd.ROOM_IM);
  const group = await run(Cmd.GROUP_IM);
  console.log(`\n## one sender, ${M} members over ${SHARDS} shards, 64-byte messages, window ${WINDOW}, ${SECONDS} s`);
  console.log('| fan-out | member deliveries/s | vs room |');
  console.log('|---|---:|---:|');
  console.log(`| room of ${M} (reference) | ${fmt(room)} | 1.00 |`);
  console.log(`| super group of ${M} | ${fmt(group)} | ${(group / room).toFixed(2)} |`);
  for (const s of [...members, sender]) s.destroy();
} finally {
  await server.stop();
}
