import http from 'node:http';
import { once } from 'node:events';
import { intParam, router, sendJson } from '../http/json.ts';
import type { Logger } from '../log/logger.ts';
import type { Router } from './router.ts';

/** The router's HTTP face: presence queries, Prometheus metrics and a health check. */
export async function startRouterHttp(r: Router, host: string, port: number, log: Logger): Promise<http.Server> {
  const server = http.createServer(router({
    '/online': (_req, url, res) => {
      sendJson(res, 200, { online: r.index.isOnline(intParam(url, 'appid'), intParam(url, 'uid')) });
    },
    '/all_online': (_req, url, res) => {
      if (url.searchParams.get('detail') === '1') {
        sendJson(res, 200, [...r.index.links()].map((l) => ({ link: l.id, remote: l.remote, apps: r.index.linkView(l) })));
      } else {
        sendJson(res, 200, r.index.allUsers());
      }
    },
    '/metrics': async (_req, _url, res) => {
      const text = await r.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': r.metrics.registry.contentType });
      res.end(text);
    },
    '/healthz': (_req, _url, res) => sendJson(res, 200, { ok: true, links: r.index.linkCount }),
  }, (err) => log.error({ err }, 'http handler failed')));
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
