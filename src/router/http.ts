import type http from 'node:http';
import { createServer } from '../http/create-server.ts';
import { guardServer, intParam, router, sendJson } from '../http/json.ts';
import { listening } from '../http/listen.ts';
import type { Logger } from '../log/logger.ts';
import type { Router } from './router.ts';

/** The router's HTTP face: presence queries, Prometheus metrics and a health check. */
export async function startRouterHttp(r: Router, host: string, port: number, log: Logger): Promise<http.Server> {
  const server = createServer(router({
    '/online': (_req, url, res) => {
      sendJson(res, 200, { online: r.index.isOnline(intParam(url, 'appid'), intParam(url, 'uid')) });
    },
    '/all_online': (_req, url, res) => {
      if (url.searchParams.get('detail') === '1') {
        sendJson(res, 200, [...r.index.links()].map((l) => ({ link: l.id, remote: l.remote, apps: r.index.linkView(l) })));
      } else {
        return streamAllOnline(r, res);
      }
    },
    '/metrics': async (_req, _url, res) => {
      const text = await r.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': r.metrics.registry.contentType });
      res.end(text);
    },
    '/healthz': (_req, _url, res) => sendJson(res, 200, { ok: true, links: r.index.linkCount }),
  }, (err) => log.error({ err }, 'http handler failed'), (err) => log.debug({ err: (err as Error).message }, 'http request aborted by the client')));
  guardServer(server, 256);
  server.listen(port, host);
  await listening(server, 'IMR_HTTP_PORT', host, port, 'IMR_HOST');
  return server;
}

const CHUNK = 10_000;

/**
 * `/all_online`, written as it is read: a chunk of uids at a time with a turn of the event
 * loop between chunks, so that a large index never holds routing up while it is serialized.
 */
async function streamAllOnline(r: Router, res: http.ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('[');
  let firstApp = true;
  for (const [appid, byUid] of [...r.index.usersByApp()]) {
    const uids = [...byUid.keys()].sort((a, b) => a - b);
    res.write(`${firstApp ? '' : ','}{"appid":${appid},"users":[`);
    firstApp = false;
    for (let i = 0; i < uids.length; i += CHUNK) {
      res.write((i === 0 ? '' : ',') + uids.slice(i, i + CHUNK).join(','));
      await new Promise((resolve) => setImmediate(resolve));
      if (res.destroyed) return;
    }
    res.write(']}');
  }
  res.end(']');
}
