import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signToken } from '../../src/auth/jwt.ts';
import { ImClient, type ClientOptions } from '../../src/client/index.ts';
import { httpJson, startProcess, type Started } from './process.ts';

export const SECRET = 'test-secret-of-at-least-32-bytes-length!';

export interface Im extends Started {
  port: number;
  wsPort: number;
  httpPort: number;
  dashboardPort: number;
  tlsPort?: number;
  wssPort?: number;
}

/** Starts a real access server on free ports. */
export async function startIm(env: Record<string, string> = {}): Promise<Im> {
  const p = await startProcess('src/server/main.ts', {
    IM_PORT: '0', IM_WS_PORT: '0', IM_HTTP_PORT: '0', IM_JWT_SECRET: SECRET, IM_LOG_LEVEL: 'warn', IM_SHARDS: '3',
    IM_HOST: '127.0.0.1', IM_GROUP_DB: join(mkdtempSync(join(tmpdir(), 'im-groups-')), 'groups.db'),
    IM_STORE_DB: join(mkdtempSync(join(tmpdir(), 'im-store-')), 'messages.db'), ...env,
  });
  return Object.assign(p, {
    port: p.ready.tcp as number, wsPort: p.ready.ws as number, httpPort: p.ready.http as number, dashboardPort: p.ready.dashboard as number,
    tlsPort: p.ready.tls as number | undefined, wssPort: p.ready.wss as number | undefined,
  });
}

export async function token(appid: number, uid: number): Promise<string> {
  return signToken(SECRET, appid, uid);
}

/** Connects and authenticates uid of appid; throws unless AUTH_STATUS is 0. */
export async function login(im: Im, appid: number, uid: number, o: Partial<ClientOptions> & { deviceId?: string; platform?: number } = {}): Promise<ImClient> {
  const transport = o.transport ?? 'tcp';
  const port = o.port ?? (transport === 'ws' ? im.wsPort : transport === 'tls' ? im.tlsPort! : transport === 'wss' ? im.wssPort! : im.port);
  const c = await ImClient.connect({ ...o, port, transport, uid });
  const status = await c.auth({ token: await token(appid, uid), deviceId: o.deviceId ?? `dev-${uid}-${Math.random()}`, platform: o.platform });
  if (status !== 0) throw new Error(`login of ${appid}/${uid} failed with status ${status}`);
  return c;
}

/**
 * Records every event of `name` on c from now on. `done(...via)` fences: a PING/PONG round
 * trip on each of `via` (the connections that sent what is awaited), then on c, one after
 * the other; a server handles a connection's frames in order, so what those frames caused
 * has been written by then. No sleep: an absence check cannot pass because the server was slow.
 */
export function record<T extends unknown[]>(c: ImClient, name: string): { got: T[]; done(...via: ImClient[]): Promise<T[]>; until(via: ImClient): Promise<T[]> } {
  const got: T[] = [];
  const on = (...a: unknown[]) => got.push(a as T);
  c.on(name as never, on as never);
  return {
    got,
    async done(...via) {
      for (const x of [...via, c]) await x.ping();
      c.off(name as never, on as never);
      return got;
    },
    /**
     * The fence for what crosses shards or servers, where no one connection orders it: an RT
     * from `via` to c's user, sent now, takes the path what `via` sent before it took (its
     * shard, the Channel, the router or NATS, c's shard), in order; once c has it, whatever
     * was sent before has arrived. No sleep: slow delivery makes it wait, never pass. An RT
     * is not stored: one sent before another server has made c's user known is lost, so the
     * marker is sent again each second until one arrives.
     */
    async until(via) {
      const marker = `fence-${Math.random()}`;
      let again: NodeJS.Timeout | undefined;
      const arrived = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the fence RT from ${via.uid} to ${c.uid} did not arrive`)), 20_000);
        const seen = (m: { content: Buffer }) => {
          if (m.content.toString() !== marker) return;
          clearTimeout(timer);
          c.off('rt', seen);
          resolve();
        };
        c.on('rt', seen);
      });
      const send = () => {
        via.sendRT({ receiver: c.uid!, content: marker });
        again = setTimeout(send, 1000);
      };
      send();
      try {
        await arrived;
      } finally {
        clearTimeout(again);
      }
      c.off(name as never, on as never);
      return name === 'rt' ? got.filter((a) => (a[0] as { content: Buffer }).content.toString() !== marker) : got;
    },
  };
}

/** A counter or gauge of /metrics, summed over its labels (0 when absent). */
export async function metric(im: Im, name: string): Promise<number> {
  const text = (await httpJson(im.httpPort, '/metrics')).body as string;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
