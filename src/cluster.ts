/**
 * `npm run cluster`: one router and two access servers on 127.0.0.1, to try cross-server
 * messaging on one machine. With CLUSTER_BACKPLANE=nats, a three-node NATS cluster (Debian's
 * nats-server on the PATH) takes the router's place: client ports 4222-4224 (cluster routes
 * 6222-6224, monitoring 8222-8224), or P+2..P+4 (routes P+5.., monitoring P+14..) with
 * CLUSTER_BASE_PORT. Ports: by default router 4444 (HTTP 4445); server A TCP 23000,
 * WS 13891, HTTP 6666, dashboard 6680; server B TCP 23001, WS 13892, HTTP 6667, dashboard
 * 6681. With CLUSTER_BASE_PORT=P: router P (HTTP P+1), server A P+10 (WS P+11, HTTP P+12,
 * dashboard P+13), server B P+20 (WS P+21, HTTP P+22, dashboard P+23).
 * If any part fails or exits, the others are stopped too. Ctrl-C stops all three.
 * Both servers share one message store, as linked servers must for a message to a user who
 * is offline to be synced from either: one SQLite file (IM_STORE_DB, data/messages.db) that
 * both write, or PostgreSQL with IM_STORE_URL (postgres://…).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signToken } from './auth/jwt.ts';
import { secretFromFile } from './auth/secret-file.ts';
import { clusterProblems } from './cluster-check.ts';

// Beside this file: the sources when run as TypeScript, build/ when run as `npm run cluster`.
const SERVER = new URL('./server/main.ts', import.meta.url).pathname;
const ROUTER = new URL('./router/main.ts', import.meta.url).pathname;
// The secret every server started from this checkout uses (the one `npm start` makes and
// keeps), so that `npm run token` prints tokens the cluster accepts too.
const secretFile = process.env.IM_JWT_SECRET_FILE || 'data/jwt-secret';
const secret = process.env.IM_JWT_SECRET || secretFromFile(secretFile).secret;
const shards = process.env.IM_SHARDS ?? '1';
const base = Number(process.env.CLUSTER_BASE_PORT ?? 0);
if (!Number.isInteger(base) || base < 0 || base > 65500) {
  process.stderr.write(`cluster: CLUSTER_BASE_PORT must be a port number, got "${process.env.CLUSTER_BASE_PORT}"\n`);
  process.exit(2);
}
const backplane = process.env.CLUSTER_BACKPLANE ?? 'router';
if (backplane !== 'router' && backplane !== 'nats') {
  process.stderr.write(`cluster: CLUSTER_BACKPLANE must be router or nats, got "${backplane}"\n`);
  process.exit(2);
}
if (backplane === 'nats' && spawnSync('nats-server', ['--version']).error !== undefined) {
  process.stderr.write('cluster: CLUSTER_BACKPLANE=nats needs nats-server on the PATH (Debian: apt-get install nats-server)\n');
  process.exit(2);
}
const at = (offset: number, fallback: number) => String(base > 0 ? base + offset : fallback);
const ports = {
  router: at(0, 4444), routerHttp: at(1, 4445),
  nats: [0, 1, 2].map((i) => ({ client: at(2 + i, 4222 + i), route: at(5 + i, 6222 + i), http: at(14 + i, 8222 + i) })),
  a: { tcp: at(10, 23000), ws: at(11, 13891), http: at(12, 6666), dashboard: at(13, 6680) },
  b: { tcp: at(20, 23001), ws: at(21, 13892), http: at(22, 6667), dashboard: at(23, 6681) },
};
const children: ChildProcess[] = [];
let stopping = false;

/** Stops every part gracefully (SIGKILL after 10 s), then exits with `code` once all are gone. */
function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of alive) c.kill('SIGTERM');
  const killer = setTimeout(() => { for (const c of alive) c.kill('SIGKILL'); }, 10_000);
  void Promise.all(alive.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined))).then(() => {
    clearTimeout(killer);
    process.exit(code);
  });
}

// From the start: a signal while the parts start stops those already running.
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

function start(name: string, entry: string, env: Record<string, string>): Promise<void> {
  // Own process group: a Ctrl-C reaches this script only, which stops the servers in order.
  const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.includes('"msg":"ready"')) resolve();
        if (line.includes('"level":40') || line.includes('"level":50')) process.stdout.write(`[${name}] ${line}\n`);
      }
    });
    child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d}`));
    child.on('exit', (code) => {
      reject(new Error(`${name} exited with ${code}`));
      // One part gone: the rest would only hold their ports. Stop everything.
      if (!stopping) {
        process.stderr.write(`cluster: ${name} exited with ${code}; stopping the others\n`);
        stopAll(1);
      }
    });
  });
}

/** One node of the NATS cluster: resolves once it says it is ready (nats-server logs to stderr). */
function startNats(i: number, dir: string): Promise<void> {
  const n = ports.nats[i]!;
  const conf = join(dir, `nats-${i + 1}.conf`);
  const routes = ports.nats.map((m) => `nats-route://127.0.0.1:${m.route}`).join(', ');
  writeFileSync(conf, `server_name: nats-${i + 1}\nlisten: 127.0.0.1:${n.client}\nhttp: 127.0.0.1:${n.http}\n`
    + `cluster { name: im, listen: 127.0.0.1:${n.route}, routes: [${routes}] }\n`);
  const child = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (d: Buffer) => {
      text += d;
      if (text.includes('Server is ready')) resolve();
      if (/\[(FTL|ERR)\]/.test(String(d))) process.stderr.write(`[nats-${i + 1}] ${d}`);
    });
    child.on('exit', (code) => {
      reject(new Error(`nats-${i + 1} exited with ${code}`));
      if (!stopping) {
        process.stderr.write(`cluster: nats-${i + 1} exited with ${code}; stopping the others\n`);
        stopAll(1);
      }
    });
  });
}

const natsUrl = ports.nats.map((n) => `nats://127.0.0.1:${n.client}`).join(',');
const link: Record<string, string> = backplane === 'nats' ? { IM_NATS_URL: natsUrl } : { IM_ROUTE_ADDRS: `127.0.0.1:${ports.router}` };
const common = { IM_JWT_SECRET: secret, IM_SHARDS: shards, IM_HOST: '127.0.0.1', ...link };
// One store for both servers, as linked servers need: PostgreSQL when IM_STORE_URL names it,
// else one SQLite file both write (IM_STORE_SHARED: keys handed out inside each transaction).
const postgres = process.env.IM_STORE_URL !== undefined;
const storeDb = process.env.IM_STORE_DB ?? 'data/messages.db';
const store: Record<string, string> = (postgres ? {} : { IM_STORE: 'sqlite', IM_STORE_DB: storeDb, IM_STORE_SHARED: '1' });
const planned = [
  ...(backplane === 'nats'
    ? ports.nats.flatMap((n, i) => [{ port: n.client, what: `NATS ${i + 1}` }, { port: n.route, what: `NATS ${i + 1} routes` }, { port: n.http, what: `NATS ${i + 1} monitoring` }])
    : [{ port: ports.router, what: 'router' }, { port: ports.routerHttp, what: 'router HTTP' }]),
  ...(['a', 'b'] as const).flatMap((s) => [
    { port: ports[s].tcp, what: `server ${s.toUpperCase()} TCP` }, { port: ports[s].ws, what: `server ${s.toUpperCase()} WebSocket` },
    { port: ports[s].http, what: `server ${s.toUpperCase()} HTTP` }, { port: ports[s].dashboard, what: `server ${s.toUpperCase()} dashboard` },
  ]),
].map((p) => ({ ...p, port: Number(p.port) }));
const problems = await clusterProblems(planned, postgres ? undefined : storeDb);
if (problems.length > 0) {
  for (const p of problems) process.stderr.write(`cluster: ${p}\n`);
  process.exit(2);
}
try {
  if (backplane === 'nats') {
    const dir = mkdtempSync(join(tmpdir(), 'gobelieve-router-nats-'));
    await Promise.all([0, 1, 2].map((i) => startNats(i, dir)));
  } else {
    await start('imr', ROUTER, { IMR_PORT: ports.router, IMR_HTTP_PORT: ports.routerHttp });
  }
  await Promise.all([
    start('im-a', SERVER, { ...common, ...store, IM_PORT: ports.a.tcp, IM_WS_PORT: ports.a.ws, IM_HTTP_PORT: ports.a.http, IM_DASHBOARD_PORT: ports.a.dashboard }),
    start('im-b', SERVER, { ...common, ...store, IM_PORT: ports.b.tcp, IM_WS_PORT: ports.b.ws, IM_HTTP_PORT: ports.b.http, IM_DASHBOARD_PORT: ports.b.dashboard }),
  ]);
} catch (err) {
  process.stderr.write(`cluster: ${(err as Error).message}\n`);
  stopAll(1);
  await new Promise(() => {}); // stopAll exits
}
process.stdout.write(`
cluster up:
  ${backplane === 'nats' ? `NATS      ${natsUrl}  (monitoring :${ports.nats.map((n) => n.http).join(', :')})` : `router    127.0.0.1:${ports.router}  (HTTP :${ports.routerHttp})`}
  server A  tcp :${ports.a.tcp}  ws :${ports.a.ws}/ws  http :${ports.a.http}  dashboard http://127.0.0.1:${ports.a.dashboard}/
  server B  tcp :${ports.b.tcp}  ws :${ports.b.ws}/ws  http :${ports.b.http}  dashboard http://127.0.0.1:${ports.b.dashboard}/
message store: ${postgres ? 'PostgreSQL (IM_STORE_URL), shared' : `${storeDb}, shared by both servers (IM_STORE_URL=postgres://… for servers on several machines)`}
${process.env.IM_JWT_SECRET ? 'JWT secret: IM_JWT_SECRET' : `JWT secret: ${secretFile}, the one npm start uses (npm run -s token -- APPID UID prints a token for both)`}
token for appid 7 uid 1: ${await signToken(secret, 7, 1)}
token for appid 7 uid 2: ${await signToken(secret, 7, 2)}
Connect uid 1 to server A and uid 2 to server B and send messages; Ctrl-C stops everything.
`);

