import { readFileSync } from 'node:fs';
import type { Handler } from '../http/json.ts';
import { Kind, type SubscriberTable } from '../subscribers/index.ts';
import type { PoolQueries } from './pool-queries.ts';

const PAGE = readFileSync(new URL('./dashboard.html', import.meta.url));

/** Which server this is: shown at the top of the dashboard. */
export interface Identity {
  version: string;
  startedAt: number;
  host: string;
  /** Listening ports by name (tcp, ws, tls, wss, http), filled in once they listen. */
  listen: Record<string, number>;
}

/** One sample for the dashboard: totals, which the page turns into per-second rates. */
async function sample(pool: PoolQueries, table: SubscriberTable, identity: Identity): Promise<object> {
  const [reports, channel, store] = await Promise.all([pool.reports(), pool.channelStats(), pool.storeStats()]);
  let users = 0;
  table.scan((kind) => { if (kind === Kind.USER) users++; });
  return {
    t: Date.now(),
    identity: { ...identity, uptimeS: Math.round((Date.now() - identity.startedAt) / 1000) },
    connections: reports.map((r) => r.connections),
    users,
    messagesIn: reports.reduce((n, r) => n + r.stats.messagesIn, 0),
    framesOut: reports.reduce((n, r) => n + r.stats.framesOut, 0),
    dropped: reports.reduce((n, r) => n + r.stats.dropped, 0) + (channel?.links.reduce((n, l) => n + l.dropped + l.overLimit, 0) ?? 0),
    links: channel?.links.map((l) => ({ router: l.router, server: l.server, state: l.state, connects: l.connects, pendingBytes: l.queuedBytes, liveness: l.liveness })) ?? [],
    latencyUs: channel?.latencyUs ?? null,
    store: store === undefined ? null : { engine: store.engine, up: store.up, saved: store.saved, syncs: store.syncs, errors: store.errors, saveP99Us: store.saveUs.p99 },
  };
}

/** Viewers of /events at most: each costs a socket, and the stream is unauthenticated. */
export const MAX_VIEWERS = 32;

/**
 * The live dashboard at `/`: one static page fed by server-sent events. One sample a second
 * is taken for all viewers together (the shards' reports and one scan of the table), and
 * only while someone watches; viewers beyond MAX_VIEWERS are turned away (503).
 */
export function dashboardRoutes(pool: PoolQueries, table: SubscriberTable, identity: Identity): Record<string, Handler> {
  const viewers = new Set<{ write(s: string): boolean }>();
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const tick = () => {
    sample(pool, table, identity).then((s) => {
      last = `data: ${JSON.stringify(s)}\n\n`;
      for (const v of viewers) v.write(last);
    }, () => {});
  };
  return {
    '/': (_req, _url, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': PAGE.length });
      res.end(PAGE);
    },
    '/events': (req, _url, res) => {
      if (viewers.size >= MAX_VIEWERS) {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' });
        res.end(`at most ${MAX_VIEWERS} dashboard viewers at a time\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      viewers.add(res);
      if (last !== '') res.write(last);
      if (timer === undefined) {
        tick();
        timer = setInterval(tick, 1000);
      }
      req.on('close', () => {
        viewers.delete(res);
        if (viewers.size === 0) {
          clearInterval(timer);
          timer = undefined;
        }
      });
    },
  };
}
