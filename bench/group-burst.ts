/**
 * What one client can make a linked access server hold: messages of the largest size sent
 * at once to a normal group whose members are online nowhere. Each is one PUBLISH per
 * member to the router (GoBelieve's rule: every member's own copy), so 20 messages to 5000
 * members are 3.3 GB on the wire; the router link's limit (IM_CHANNEL_QUEUE_LIMIT_BYTES)
 * decides how much of that goes out, and this reports what the server held meanwhile (peak
 * RSS, sampled every 20 ms), the time until the last ACK, and what was dropped. IM_STORE=off:
 * with a store every member's copy is also saved, which is the store's cost, not this.
 * Run: npm run bench:burst   (BURST_MEMBERS=5000 BURST_MESSAGES=20 BURST_BYTES=32000)
 */
import { startProcess, httpJson, type Started } from '../test/helpers/process.ts';
import { SECRET, client } from './peer-load.ts';
import { memoryKiB } from './proc.ts';

const MEMBERS = Number(process.env.BURST_MEMBERS ?? 5000);
const MESSAGES = Number(process.env.BURST_MESSAGES ?? 20);
const BYTES = Number(process.env.BURST_BYTES ?? 32_000);

const procs: Started[] = [];
try {
  const imr = await startProcess('src/router/main.ts', { IMR_PORT: '0', IMR_HTTP_PORT: '0', IMR_LOG_LEVEL: 'error' });
  procs.push(imr);
  const im = await startProcess('src/server/main.ts', {
    IM_SHARDS: '1', IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'error',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_STORE: 'off', IM_ROUTE_ADDRS: `127.0.0.1:${imr.ready.port}`,
  });
  procs.push(im);
  const http = im.ready.http as number;
  const members = Array.from({ length: MEMBERS }, (_, i) => 100_000 + i);
  const created = await httpJson(http, '/create_group', {
    method: 'POST', body: JSON.stringify({ appid: 1, master: members[0], name: 'burst', members }), headers: { 'content-type': 'application/json' },
  });
  const gid = created.body.data.group_id as number;
  const sender = await client(im.ready.tcp as number, members[0]!);
  const before = memoryKiB(im.proc.pid!).rss;
  let peak = before;
  const sample = setInterval(() => { peak = Math.max(peak, memoryKiB(im.proc.pid!).rss); }, 20);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: MESSAGES }, () => sender.sendGroupIM({ receiver: gid, content: Buffer.alloc(BYTES, 0x61) })));
  const acked = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2000));
  clearInterval(sample);
  const drops = (await httpJson(http, '/summary')).body.dropped_count as Record<string, number>;
  sender.destroy();
  console.log(`\n## ${MESSAGES} messages of ${BYTES} bytes at once to a normal group of ${MEMBERS} (one PUBLISH per member)`);
  console.log('| RSS before MiB | peak RSS MiB | last ACK after ms | publishes dropped (router_backlog) | dropped, router down |');
  console.log('|---:|---:|---:|---:|---:|');
  console.log(`| ${(before / 1024).toFixed(0)} | ${(peak / 1024).toFixed(0)} | ${acked.toFixed(0)} | ${drops.router_backlog ?? 0} | ${drops.router_down} |`);
} finally {
  for (const p of procs.reverse()) await p.stop();
}
