import type http from 'node:http';

/** A request the caller got wrong: answered with `status` and the `{"meta": …}` error shape. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, message: string): void {
  sendJson(res, status, { meta: { code: status, message } });
}

/** An int64 query parameter that must be present and exactly representable. */
export function intParam(url: URL, name: string): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') throw new HttpError(400, `missing parameter ${name}`);
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new HttpError(400, `parameter ${name} must be an integer, got "${v}"`);
  return Number(v);
}

/** Reads a request body up to `limit` bytes; a larger body is a 413. */
export async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new HttpError(413, `body larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n);
}

export type Handler = (req: http.IncomingMessage, url: URL, res: http.ServerResponse) => Promise<void> | void;

/**
 * Wraps a route table as a request listener: unknown paths are 404, an HttpError becomes
 * its status, anything else a logged 500; no request can crash the process.
 */
export function router(routes: Record<string, Handler>, onError: (err: unknown) => void, onAborted?: (err: unknown) => void): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = routes[url.pathname];
    if (handler === undefined) return sendError(res, 404, `no such endpoint ${url.pathname}`);
    Promise.resolve()
      .then(() => handler(req, url, res))
      .catch((err: unknown) => {
        if (err instanceof HttpError) return sendError(res, err.status, err.message);
        // The client went away mid-request (any client can do that): not a server error.
        if (req.destroyed || (err as { code?: string }).code === 'ECONNRESET' || (err as Error).message === 'aborted') {
          onAborted?.(err);
          return void res.destroy();
        }
        onError(err);
        if (!res.headersSent) sendError(res, 500, 'internal error');
        else res.destroy();
      });
  };
}

/** A JSON request body (at most `limit` bytes); anything unparsable is a 400. */
export async function readJson(req: http.IncomingMessage, limit = 1 << 20): Promise<Record<string, unknown>> {
  const text = (await readBody(req, limit)).toString('utf8');
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'body must be a JSON object');
  }
}

/** An integer field of a JSON body (required unless a fallback is given). */
export function intField(o: Record<string, unknown>, name: string, fallback?: number): number {
  const v = o[name];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new HttpError(400, `${name} must be an integer`);
  return v;
}

/** An array of integer ids, at most `max` long. */
export function intArrayField(o: Record<string, unknown>, name: string, max: number, required = true): number[] {
  const v = o[name];
  if (v === undefined && !required) return [];
  if (!Array.isArray(v)) throw new HttpError(400, `${name} must be an array of integers`);
  if (v.length > max) throw new HttpError(400, `${name} holds ${v.length} ids; at most ${max} per request`);
  for (const x of v) if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw new HttpError(400, `${name} must be an array of integers`);
  return v as number[];
}

export function stringField(o: Record<string, unknown>, name: string, fallback: string): string {
  const v = o[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'string') throw new HttpError(400, `${name} must be a string`);
  return v;
}

/** Limits for an HTTP server any client can reach: slow headers or bodies are not held for minutes. */
export function guardServer(server: http.Server, maxConnections: number): void {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = maxConnections;
}
