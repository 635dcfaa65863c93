import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImClient } from '../../src/client/index.ts';
import { httpJson } from './process.ts';
import { startIm, type Im } from './im.ts';

export { metric } from './im.ts';

/**
 * `n` access servers linked through NATS (`url`), sharing one embedded store and one group
 * database (servers on one host), pushing to `redisUrl` when given.
 */
export async function startNatsIms(n: number, url: string, env: Record<string, string> = {}): Promise<Im[]> {
  const dir = mkdtempSync(join(tmpdir(), 'im-nats-cluster-'));
  const shared = {
    IM_NATS_URL: url, IM_SHARDS: '2', IM_STORE_SHARED: '1', IM_STORE_DB: join(dir, 'messages.db'), IM_GROUP_DB: join(dir, 'groups.db'), ...env,
  };
  const ims: Im[] = [];
  // One after the other: the first makes the shared files, and a failed start leaves the others to stop.
  for (let i = 0; i < n; i++) ims.push(await startIm(shared));
  return ims;
}

/** The NATS node an access server is connected to now (host:port), from /healthz. */
export async function natsServerOf(im: Im): Promise<{ server: string; state: string; reconnects: number }> {
  const h = (await httpJson(im.httpPort, '/healthz')).body as { routers: { router: string; server: string; state: string; reconnects: number }[] };
  return h.routers.find((r) => r.router === 'nats')!;
}

/**
 * Sends RTs from `from` to `uid` until `to` gets one: the servers' interest has spread
 * through NATS. The probes say "probe", so tests can leave them out of their counts.
 */
export async function reachable(from: ImClient, to: ImClient, uid: number, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  let got = false;
  const on = (m: { content: Buffer }) => { if (m.content.toString().startsWith('probe')) got = true; };
  to.on('rt', on as never);
  try {
    for (let n = 0; !got; n++) {
      if (Date.now() > end) throw new Error(`uid ${uid} not reachable within ${ms} ms`);
      from.sendRT({ receiver: uid, content: `probe ${n}` });
      for (let i = 0; i < 10 && !got; i++) await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    to.off('rt', on as never);
  }
}
