/**
 * What one hand-off between two threads costs when each goes alone (one message a turn, as
 * below saturation): a sender thread ticks every millisecond and, in one run, posts a 200-byte
 * ArrayBuffer (transferred, as shards hand off) to a receiver thread each tick; in the other
 * it only ticks. The CPU of each thread is read from /proc; the difference a message is the
 * hand-off's price: the post, and the receiver's wake-up to take it.
 * Run: npm run bench:handoff   (HANDOFF_SECONDS=5)
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { threadCpu } from './proc.ts';

const SECONDS = Number(process.env.HANDOFF_SECONDS ?? 5);

const SENDER = `
const { workerData } = require('node:worker_threads');
const { port, post, seconds } = workerData;
let n = 0;
const t = setInterval(() => {
  if (post) {
    const ab = new ArrayBuffer(200);
    port.postMessage(ab, [ab]);
  }
  n++;
}, 1);
// Kept alive until terminated: its CPU is read after the run, from its thread.
setTimeout(() => { clearInterval(t); port.postMessage({ n }); setInterval(() => {}, 60000); }, seconds * 1000);
`;
const RECEIVER = `
const { workerData, parentPort } = require('node:worker_threads');
let got = 0;
workerData.port.on('message', (m) => {
  if (m instanceof ArrayBuffer) { got += new Uint8Array(m).length > 0 ? 1 : 0; return; }
  parentPort.postMessage({ sent: m.n, got });
});
`;

async function run(post: boolean): Promise<{ sent: number; sender: number; receiver: number }> {
  const { port1, port2 } = new MessageChannel();
  const receiver = new Worker(RECEIVER, { eval: true, name: 'receiver', workerData: { port: port2 }, transferList: [port2 as never] });
  await new Promise((r) => setTimeout(r, 200));
  const before = threadCpu(process.pid);
  const sender = new Worker(SENDER, { eval: true, name: 'sender', workerData: { port: port1, post, seconds: SECONDS }, transferList: [port1 as never] });
  const done = await new Promise<{ sent: number; got: number }>((r) => receiver.once('message', r));
  const after = threadCpu(process.pid);
  const used = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const result = { sent: done.sent, sender: used('sender'), receiver: used('receiver') };
  await sender.terminate();
  await receiver.terminate();
  return result;
}

const rows: [string, Awaited<ReturnType<typeof run>>][] = [];
for (let rep = 0; rep < 2; rep++) {
  rows.push(['ticks only', await run(false)]);
  rows.push(['a hand-off each tick', await run(true)]);
}
console.log(`\n## one message a turn between two threads, ${SECONDS} s a run (CPU from /proc, 10 ms ticks)`);
console.log('| run | messages | sender µs a message | receiver µs a message |');
console.log('|---|---:|---:|---:|');
for (const [name, r] of rows) {
  console.log(`| ${name} | ${r.sent} | ${(r.sender * 1e6 / r.sent).toFixed(1)} | ${(r.receiver * 1e6 / r.sent).toFixed(1)} |`);
}
