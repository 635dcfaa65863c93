/**
 * What an idle access server costs: RSS and private memory (what the process alone holds,
 * from /proc/PID/smaps_rollup) with no connection, by configuration, with the V8 heap of
 * each of its threads from /metrics; a bare Node process beside it. Read after a full GC.
 * Run: npm run bench:idle
 */
import { startProcess, type Started } from '../test/helpers/process.ts';
import { SECRET } from './peer-load.ts';
import { residentMiB } from './proc.ts';

async function measure(name: string, p: Started, http?: number): Promise<string> {
  try {
    await new Promise((r) => setTimeout(r, 1500));
    let threads = '';
    if (http !== undefined) {
      await fetch(`http://127.0.0.1:${http}/debug/gc`, { method: 'POST' });
      await new Promise((r) => setTimeout(r, 500));
      const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
      threads = [...text.matchAll(/im_thread_memory_bytes\{thread="([^"]+)",kind="heap"\} (\d+)/g)]
        .map(([, t, b]) => `${t} ${(Number(b) / 1048576).toFixed(1)}`).join(', ');
    }
    const m = residentMiB(p.proc.pid!);
    return `| ${name} | ${m.rss.toFixed(1)} | ${m.private.toFixed(1)} | ${threads || '–'} |`;
  } finally {
    await p.stop();
  }
}

const rows: string[] = [];
rows.push(await measure('bare Node (one net server)', await startProcess('bench/fixtures/idle-bare.ts', {})));
const base = {
  IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_STORE_DB: ':memory:', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn',
  IM_HOST: '127.0.0.1', IM_GROUP_DB: ':memory:', IM_TEST_HOOKS: '1', NODE_OPTIONS: '--expose-gc',
};
// From the TypeScript sources (Node strips the types in every thread), then from build/ as `npm start` runs.
const sources = new URL('../src/server/main.ts', import.meta.url).pathname;
const runs: [label: string, entry: string, env: Record<string, string>][] = [
  ['im from the .ts sources, IM_SHARDS=1, IM_STORE=off', sources, { IM_SHARDS: '1', IM_STORE: 'off' }],
  ['im, IM_SHARDS=1, IM_STORE=off', 'src/server/main.ts', { IM_SHARDS: '1', IM_STORE: 'off' }],
  ['im, IM_SHARDS=1, IM_STORE=sqlite', 'src/server/main.ts', { IM_SHARDS: '1', IM_STORE: 'sqlite' }],
  ['im, IM_SHARDS=2, IM_STORE=sqlite', 'src/server/main.ts', { IM_SHARDS: '2', IM_STORE: 'sqlite' }],
];
for (const [label, entry, env] of runs) {
  const p = await startProcess(entry, { ...base, ...env });
  rows.push(await measure(label, p, p.ready.http as number));
}
console.log('\n## an idle server (no connection), after a full GC');
console.log('| process | RSS MiB | private MiB | V8 heap in use by thread, MiB |');
console.log('|---|---:|---:|---|');
for (const r of rows) console.log(r);
