/**
 * Drives one room fan-out against a running server from piscina load threads (the tasks of
 * fixtures/fanout-worker.ts) and measures the server's CPU over the measured window: shared
 * by bench/fanout.ts and bench/memory.ts.
 */
import type { Piscina } from 'piscina';
import type { FanoutResult, FanoutTask } from './fixtures/fanout-worker.ts';
import { cpuSeconds } from './proc.ts';

export interface Drive {
  target: FanoutTask['target'];
  port: number;
  /** The server process, for its CPU time. */
  pid: number;
  receivers: number;
  senders: number;
  threads: number;
  seconds: number;
  window: number;
  secret: string;
  /** Spread each thread's connections over its own 127.0.0.x source address (many connections). */
  spreadSources?: boolean;
}

export async function driveFanout(pool: Piscina, d: Drive): Promise<{ results: FanoutResult[]; cores: number }> {
  const barrier = new SharedArrayBuffer(4);
  const tasks = Array.from({ length: d.threads }, (_, worker): FanoutTask => ({
    target: d.target, port: d.port, worker, workers: d.threads, receivers: Math.ceil(d.receivers / d.threads),
    senders: Math.ceil(d.senders / d.threads), seconds: d.seconds, warmupMs: 1000, window: d.window, secret: d.secret, barrier,
    localAddress: d.spreadSources === true ? `127.0.0.${2 + worker}` : undefined,
  }));
  const running = Promise.all(tasks.map((t) => pool.run(t) as Promise<FanoutResult>));
  // CPU over the measured window only: wait out connection set-up and warm-up first.
  let cpu0 = 0;
  let t0 = 0;
  const mark = setInterval(() => {
    if (Atomics.load(new Int32Array(barrier), 0) < d.threads) return;
    // Once: the window starts a second after every load thread is connected.
    clearInterval(mark);
    setTimeout(() => { cpu0 = cpuSeconds(d.pid); t0 = performance.now(); }, 1000);
  }, 20);
  const results = await running;
  clearInterval(mark);
  return { results, cores: (cpuSeconds(d.pid) - cpu0) / ((performance.now() - t0 - 300) / 1000) };
}
