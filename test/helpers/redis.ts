import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './process.ts';

export interface RedisServer {
  url: string;
  port: number;
  client: Redis;
  stop(): Promise<void>;
}

/** A real redis-server on a free loopback port, with no persistence, for one test file. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'imr-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const failed = once(proc, 'error').then(([e]) => { throw new Error(`redis-server could not start (is it installed?): ${(e as Error).message}`); });
  failed.catch(() => {});
  const end = Date.now() + 10_000;
  for (;;) {
    const s = net.connect({ port, host: '127.0.0.1' });
    const up = await Promise.race([once(s, 'connect').then(() => true, () => false), failed]);
    s.destroy();
    if (up) break;
    if (Date.now() > end) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await client.ping();
  return {
    url: `redis://127.0.0.1:${port}`, port, client,
    async stop() {
      client.disconnect();
      proc.kill('SIGKILL');
      await once(proc, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
