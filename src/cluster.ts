/**
 * `npm run cluster`: one router and two access servers on 127.0.0.1, to try cross-server
 * messaging on one machine. Ports: router 4444 (HTTP 4445); server A TCP 23000, WS 13891,
 * HTTP 6666; server B TCP 23001, WS 13892, HTTP 6667. Ctrl-C stops all three.
 * With IM_STORE_URL (postgres://…) both servers share that message store, as linked servers
 * must for offline messages to be synced from either; without it each has its own SQLite
 * file, and messages to users who are offline reach them only on the server they were sent on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { signToken } from './auth/jwt.ts';

const secret = process.env.IM_JWT_SECRET ?? randomBytes(32).toString('base64url');
const shards = process.env.IM_SHARDS ?? '1';
const children: ChildProcess[] = [];

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
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

const common = { IM_JWT_SECRET: secret, IM_SHARDS: shards, IM_ROUTE_ADDRS: '127.0.0.1:4444', IM_HOST: '127.0.0.1' };
await start('imr', 'src/router/main.ts', { IMR_PORT: '4444', IMR_HTTP_PORT: '4445' });
const shared = process.env.IM_STORE_URL !== undefined;
const own = (name: string): Record<string, string> => (shared ? {} : { IM_STORE_DB: `data/messages-${name}.db` });
await Promise.all([
  start('im-a', 'src/server/main.ts', { ...common, ...own('a'), IM_PORT: '23000', IM_WS_PORT: '13891', IM_HTTP_PORT: '6666' }),
  start('im-b', 'src/server/main.ts', { ...common, ...own('b'), IM_PORT: '23001', IM_WS_PORT: '13892', IM_HTTP_PORT: '6667' }),
]);
process.stdout.write(`
cluster up: router 127.0.0.1:4444 (HTTP :4445), server A tcp :23000 ws :13891 http :6666, server B tcp :23001 ws :13892 http :6667
message store: ${shared ? 'PostgreSQL (IM_STORE_URL), shared' : 'one SQLite file per server (set IM_STORE_URL=postgres://… to share one)'}
IM_JWT_SECRET=${secret}
token for appid 7 uid 1: ${await signToken(secret, 7, 1)}
token for appid 7 uid 2: ${await signToken(secret, 7, 2)}
Connect uid 1 to server A and uid 2 to server B and send messages; Ctrl-C stops everything.
`);

const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
