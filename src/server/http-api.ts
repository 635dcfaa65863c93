import type http from 'node:http';
import { createServer } from '../http/create-server.ts';
import { guardServer, router, sendJson, intParam, readJson, stringField, HttpError, type Handler } from '../http/json.ts';
import { isAbsolute } from 'node:path';
import { deadline } from '../threads/deadline.ts';

/** Concurrent HTTP connections to the API (the dashboard streams count too). */
const HTTP_MAX_CONNECTIONS = 256;
/** A backup of a large store takes minutes; one that takes longer than this has stalled. */
const BACKUP_DEADLINE_MS = 3_600_000;
import type { Logger } from '../log/logger.ts';
import { Kind, type SubscriberTable } from '../subscribers/index.ts';
import type { ShardPool } from './shard-pool.ts';
import type { PoolQueries } from './pool-queries.ts';
import type { ShardReport } from '../shard/stats.ts';
import { droppedByReason } from './drops.ts';
import type { GroupService } from '../groups/service.ts';
import { groupRoutes } from './http-groups.ts';
import { listening } from '../http/listen.ts';
import { postRoutes } from './http-post.ts';
import { storeRoutes } from './http-store.ts';
import { serverMetrics } from './metrics.ts';
import { collectGarbage } from '../threads/memory.ts';
import { dashboardRoutes, type Identity } from './dashboard.ts';

export interface ApiContext {
  testHooks: boolean;
  /** For the test hooks and the store's backup. */
  pool: ShardPool;
  queries: PoolQueries;
  table: SubscriberTable;
  groups: GroupService;
  log: Logger;
  token: string | undefined;
  syncLimit: number;
  /** IM_MAX_BODY: posted messages are held to it as clients' are. */
  maxBody: number;
  identity: Identity;
}

/** Whole-server figures: per-shard reports summed, distinct users and rooms from the shared table. */
export async function summary(ctx: ApiContext, appid?: number): Promise<object> {
  const reports: ShardReport[] = await ctx.queries.reports();
  const users = new Map<number, number>();
  const rooms = new Map<number, number>();
  ctx.table.scan((kind, a) => {
    const m = kind === Kind.USER ? users : rooms;
    m.set(a, (m.get(a) ?? 0) + 1);
  });
  const apps = new Map<number, { appid: number; client_count: number; clientset_count: number; room_count: number; room_client_count: number }>();
  for (const r of reports) {
    for (const a of r.apps) {
      const e = apps.get(a.appid) ?? { appid: a.appid, client_count: 0, clientset_count: users.get(a.appid) ?? 0, room_count: rooms.get(a.appid) ?? 0, room_client_count: 0 };
      e.client_count += a.clients;
      e.room_client_count += a.room_clients;
      apps.set(a.appid, e);
    }
  }
  const sum = (f: (r: ShardReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const selected = [...apps.values()].filter((a) => appid === undefined || a.appid === appid).sort((x, y) => x.appid - y.appid);
  return {
    connection_count: sum((r) => r.connections),
    client_count: appid === undefined ? sum((r) => r.clients) : selected.reduce((n, a) => n + a.client_count, 0),
    clientset_count: appid === undefined ? [...users.values()].reduce((n, x) => n + x, 0) : (users.get(appid) ?? 0),
    in_message_count: sum((r) => r.stats.messagesIn),
    // The same counts, by the same reasons, as im_dropped_total in /metrics.
    dropped_count: droppedByReason(reports, await ctx.queries.channelStats()),
    out_message_count: sum((r) => r.stats.framesOut),
    room_count: appid === undefined ? [...rooms.values()].reduce((n, x) => n + x, 0) : (rooms.get(appid) ?? 0),
    apps: selected,
    shards: reports.map((r) => ({
      shard: r.shard, connections: r.connections, clients: r.clients, users: r.users, rooms: r.rooms,
      handoffs_in: r.handoffs_in, handoffs_out: r.handoffs_out, heap_used: r.heapUsed, external: r.external, write_slabs: r.writeSlabs, ...r.stats,
    })),
  };
}

/** One dashboard (its viewers, its sampling) for both listeners that serve it. */
const dashboards = new WeakMap<ApiContext, Record<string, Handler>>();
function dashboardOf(ctx: ApiContext): Record<string, Handler> {
  let d = dashboards.get(ctx);
  if (d === undefined) {
    d = dashboardRoutes(ctx.queries, ctx.table, ctx.identity);
    dashboards.set(ctx, d);
  }
  return d;
}

/** Endpoints that only read: any other method than GET (or HEAD) is a 405. */
function readOnly(routes: Record<string, Handler>): Record<string, Handler> {
  return Object.fromEntries(Object.entries(routes).map(([path, h]) => [path, ((req, url, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${path} only reads: use GET`);
    return h(req, url, res);
  }) as Handler]));
}

const READ_ONLY = ['/', '/events', '/metrics', '/summary', '/subscriptions', '/healthz'];

function apiRoutes(ctx: ApiContext): Record<string, Handler> {
  const routes = allRoutes(ctx);
  const reads = readOnly(Object.fromEntries(READ_ONLY.map((p) => [p, routes[p]!])));
  return { ...routes, ...reads };
}

function allRoutes(ctx: ApiContext): Record<string, Handler> {
  const metrics = serverMetrics(ctx.queries, ctx.table);
  return {
    ...dashboardOf(ctx),
    '/metrics': async (_req, _url, res) => {
      const text = await metrics.metrics();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(text);
    },
    ...groupRoutes(ctx.groups, ctx.queries, ctx.maxBody),
    ...postRoutes(ctx.queries, ctx.maxBody),
    ...storeRoutes(ctx.pool.store?.client, ctx.syncLimit),
    '/summary': async (_req, url, res) => {
      const appid = url.searchParams.has('appid') ? intParam(url, 'appid') : undefined;
      sendJson(res, 200, await summary(ctx, appid));
    },
    ...(ctx.testHooks ? {
      '/debug/gc': async (req, _url, res) => {
        if (req.method !== 'POST') throw new HttpError(405, 'use POST');
        await Promise.all(ctx.pool.shards.map((h) => ctx.pool.ask(h, 'gc', (c) => c.gc())));
        collectGarbage();
        sendJson(res, 200, { data: {} });
      },
      '/debug/crash_channel': async (req, _url, res) => {
        if (req.method !== 'POST') throw new HttpError(405, 'use POST');
        await ctx.pool.channel?.control.crash();
        sendJson(res, 200, { data: {} });
      },
      '/debug/crash_store': async (req, _url, res) => {
        if (req.method !== 'POST') throw new HttpError(405, 'use POST');
        if (ctx.pool.store === undefined) throw new HttpError(400, 'the store is off');
        await ctx.pool.store.crash();
        sendJson(res, 200, { data: {} });
      },
      '/debug/hang_shard': async (req, url, res) => {
        if (req.method !== 'POST') throw new HttpError(405, 'use POST');
        const shard = ctx.pool.shards[intParam(url, 'shard')];
        if (shard === undefined) throw new HttpError(400, 'no such shard');
        await ctx.pool.ask(shard, 'hang', (c) => c.hang(intParam(url, 'ms')));
        sendJson(res, 200, { data: {} });
      },
      '/debug/crash_shard': async (req, url, res) => {
        if (req.method !== 'POST') throw new HttpError(405, 'use POST');
        const shard = ctx.pool.shards[intParam(url, 'shard')];
        if (shard === undefined) throw new HttpError(400, 'no such shard');
        await ctx.pool.ask(shard, 'crash', (c) => c.crash());
        sendJson(res, 200, { data: {} });
      },
    } : {}),
    '/subscriptions': (_req, url, res) => {
      // The shared subscriber table, as the routers should see it: users with their online
      // flag, rooms; per appid, sorted. For operators and for checking the Channel's invariant.
      const only = url.searchParams.has('appid') ? intParam(url, 'appid') : undefined;
      const apps = new Map<number, { appid: number; users: [number, boolean][]; rooms: number[] }>();
      ctx.table.scan((kind, appid, id, count) => {
        if (only !== undefined && appid !== only) return;
        let a = apps.get(appid);
        if (a === undefined) apps.set(appid, (a = { appid, users: [], rooms: [] }));
        if (kind === Kind.USER) a.users.push([id, count >>> 16 > 0]);
        else a.rooms.push(id);
      });
      const out = [...apps.values()].sort((x, y) => x.appid - y.appid);
      for (const a of out) {
        a.users.sort((x, y) => x[0] - y[0]);
        a.rooms.sort((x, y) => x - y);
      }
      sendJson(res, 200, out);
    },
    '/store/backup': async (req, _url, res) => {
      // The embedded store is held by this process: an online backup is taken by it (bin/im-backup asks here).
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      const file = stringField(await readJson(req), 'file', '');
      if (!isAbsolute(file)) throw new HttpError(400, 'file must be an absolute path on the server\'s host');
      if (ctx.pool.store === undefined) throw new HttpError(404, 'the message store is off (IM_STORE=off)');
      const t0 = performance.now();
      const pages = await deadline(ctx.pool.store.control.backup(file), BACKUP_DEADLINE_MS, 'store backup')
        .catch((err: unknown) => { throw new HttpError(500, `backup failed: ${(err as Error).message}`); });
      sendJson(res, 200, { data: { file, pages, ms: Math.round(performance.now() - t0) } });
    },
    '/healthz': async (_req, _url, res) => {
      const [h, deps, channel] = await Promise.all([ctx.queries.health(1000), ctx.groups.health(1000), ctx.queries.channelStats()]);
      const routers = channel?.links.map((l) => (l.router === 'nats'
        ? { router: l.router, server: l.server, state: l.state, reconnects: Math.max(0, l.connects - 1), pendingBytes: l.queuedBytes }
        : { router: l.router, state: l.state, liveness: l.liveness })) ?? [];
      // 503 when this server cannot do its whole job: a part that does not answer, a router
      // it cannot reach, a group source or Redis that is away.
      const ok = h.shards.every(Boolean) && h.channel !== false && h.store !== false
        && deps.groups && deps.redis !== false && routers.every((r) => r.state === 'up');
      sendJson(res, ok ? 200 : 503, { ok, ...h, routers, ...deps });
    },
  };
}

/** Paths anyone may ask: a load balancer's health check carries no token. */
const OPEN = new Set(['/healthz']);
/** What a browser opens: the dashboard page and its event stream, which cannot set headers. */
const BROWSER = new Set(['/', '/events']);

/**
 * With IM_HTTP_TOKEN set, every request but /healthz needs it: reads list online users and
 * stored messages, writes post as any user. Only a GET of the dashboard and its event stream
 * may pass it as `?token=` (EventSource cannot set headers); anything else takes the
 * Authorization header alone, so that the token of a request that changes something never
 * lands in a proxy's or a server's access log.
 */
function guarded(token: string | undefined, routes: Record<string, Handler>): Record<string, Handler> {
  return Object.fromEntries(Object.entries(routes).map(([path, h]) => [path, ((req, url, res) => {
    if (token === undefined || OPEN.has(path) || req.headers.authorization === `Bearer ${token}`) return h(req, url, res);
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (BROWSER.has(path) && read && url.searchParams.get('token') === token) return h(req, url, res);
    throw new HttpError(401, BROWSER.has(path) && read
      ? 'missing or wrong admin token (Authorization: Bearer …, or ?token=…)'
      : 'missing or wrong admin token (Authorization: Bearer …; a token in the URL is taken only by the dashboard)');
  }) as Handler]));
}

/** Serves `routes` (behind the admin token) on host:port; `variable` names the port in a listen error. */
async function serve(ctx: ApiContext, routes: Record<string, Handler>, what: string, variable: string, host: string, port: number): Promise<http.Server> {
  const server = createServer(router(guarded(ctx.token, routes),
    (err) => ctx.log.error({ err }, `${what} handler failed`),
    (err) => ctx.log.debug({ err: (err as Error).message }, `${what} request aborted by the client`)));
  guardServer(server, HTTP_MAX_CONNECTIONS);
  server.listen(port, host);
  await listening(server, variable, host, port, 'IM_HTTP_HOST');
  return server;
}

/** The dashboard on a port of its own: the page and its event stream, nothing else. */
export function startDashboard(ctx: ApiContext, host: string, port: number): Promise<http.Server> {
  return serve(ctx, readOnly(dashboardOf(ctx)), 'dashboard', 'IM_DASHBOARD_PORT', host, port);
}

export function startApi(ctx: ApiContext, host: string, port: number): Promise<http.Server> {
  return serve(ctx, apiRoutes(ctx), 'http', 'IM_HTTP_PORT', host, port);
}
