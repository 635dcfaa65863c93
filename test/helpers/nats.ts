import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process.ts';

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  httpPort: number;
  config: string;
  proc: ChildProcess | undefined;
}

export interface NatsCluster {
  /** Each node's client URL, by index. */
  urls: string[];
  /** All of them, as IM_NATS_URL takes them. */
  url: string;
  /** The node whose client port is `port` (what /healthz names as the server). */
  indexOf(hostport: string): number;
  kill(i: number): Promise<void>;
  /** Starts a killed node again, on its ports and configuration. */
  restart(i: number): Promise<void>;
  /** SIGSTOP / SIGCONT: the node hangs (its sockets open, nothing answered), then resumes. */
  pause(i: number): void;
  resume(i: number): void;
  /** The node's process id (for its CPU and memory). */
  pid(i: number): number;
  /** The node's monitoring endpoint (`/varz`, `/connz`, `/subsz`, …). */
  monitor(i: number, path: string): Promise<any>;
  stop(): Promise<void>;
}

/**
 * Real nats-server processes (Debian's nats-server) on free loopback ports: `size` nodes in
 * one cluster (each routes to every other), with monitoring. `extra` is added to every
 * node's configuration (authorization, tls). Resolves once every node answers and the
 * route mesh is complete.
 */
export async function startNats(o: { size?: number; extra?: string } = {}): Promise<NatsCluster> {
  // A port picked free can be taken by another test's process before the node binds it:
  // the node then exits, and the whole cluster starts again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o.size ?? 3, o.extra ?? '');
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function startOnce(size: number, extra: string): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'im-nats-'));
  const taken = new Set<number>();
  const port = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) return taken.add(p), p;
    }
  };
  const nodes: Node[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push({ name: `n${i + 1}`, port: await port(), clusterPort: await port(), httpPort: await port(), config: join(dir, `n${i + 1}.conf`), proc: undefined });
  }
  for (const n of nodes) {
    const routes = nodes.filter((m) => m !== n).map((m) => `nats-route://127.0.0.1:${m.clusterPort}`);
    writeFileSync(n.config, [
      `server_name: ${n.name}`, `listen: 127.0.0.1:${n.port}`, `http: 127.0.0.1:${n.httpPort}`,
      ...(size > 1 ? [`cluster { name: im, listen: 127.0.0.1:${n.clusterPort}, routes: [${routes.join(', ')}] }`] : []),
      extra,
    ].join('\n'));
  }
  let failed = '';
  const launch = (n: Node) => {
    const p = spawn('nats-server', ['-c', n.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => { err = (err + d).slice(-2000); });
    p.on('error', (e) => { failed ||= `${n.name}: ${e.message} (is nats-server installed?)`; });
    p.on('exit', (code, signal) => { if (signal === null) failed ||= `${n.name} exited with ${code}: ${err.trim().split('\n').at(-1) ?? ''}`; });
    n.proc = p;
  };
  const monitor = async (i: number, path: string) => {
    const r = await fetch(`http://127.0.0.1:${nodes[i]!.httpPort}${path}`);
    return r.json();
  };
  const meshed = async (i: number) => (await monitor(i, '/routez').catch(() => ({ num_routes: -1 }))).num_routes >= size - 1;
  const ready = async (which: number[]) => {
    const end = Date.now() + 20_000;
    for (;;) {
      const ok = await Promise.all(which.map((i) => meshed(i)));
      if (ok.every(Boolean)) return;
      if (failed !== '') throw new Error(`nats-server: ${failed}`);
      if (Date.now() > end) throw new Error(`nats-server nodes ${which.join(', ')} did not form their cluster`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  for (const n of nodes) launch(n);
  try {
    await ready(nodes.map((_, i) => i));
  } catch (err) {
    for (const n of nodes) n.proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  return {
    urls,
    url: urls.join(','),
    indexOf: (hostport) => nodes.findIndex((n) => hostport.endsWith(`:${n.port}`)),
    async kill(i) {
      const p = nodes[i]!.proc;
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGKILL');
      await once(p, 'exit');
    },
    async restart(i) {
      launch(nodes[i]!);
      await ready(nodes.map((_, k) => k).filter((k) => nodes[k]!.proc?.exitCode === null && nodes[k]!.proc?.signalCode === null));
    },
    pid: (i) => nodes[i]!.proc!.pid!,
    pause: (i) => void nodes[i]!.proc?.kill('SIGSTOP'),
    resume: (i) => void nodes[i]!.proc?.kill('SIGCONT'),
    monitor,
    async stop() {
      for (const n of nodes) {
        const p = n.proc;
        if (p === undefined || p.exitCode !== null || p.signalCode !== null) continue;
        p.kill('SIGCONT');
        p.kill('SIGKILL');
        await once(p, 'exit');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
