import { Bench } from 'tinybench';

export interface Case {
  name: string;
  /** Operations one call of fn performs: batching keeps timer overhead out of ns-scale figures. */
  ops: number;
  fn: () => void;
}

export interface Measured {
  name: string;
  opsPerSec: number;
  nsPerOp: number;
  rme: number;
}

/** Runs the cases in one Bench (same process, same warm-up) and prints ops/s per case. */
export async function measure(title: string, cases: Case[], timeMs = Number(process.env.BENCH_TIME_MS ?? 1000)): Promise<Map<string, Measured>> {
  const bench = new Bench({ name: title, time: timeMs, warmupTime: 200 });
  for (const c of cases) bench.add(c.name, c.fn);
  await bench.run();
  const out = new Map<string, Measured>();
  for (const c of cases) {
    const task = bench.getTask(c.name);
    const r = task?.result;
    if (r === undefined || !('latency' in r)) throw new Error(`${c.name} produced no result`);
    const msPerCall = r.latency.mean;
    out.set(c.name, { name: c.name, opsPerSec: (c.ops * 1000) / msPerCall, nsPerOp: (msPerCall * 1e6) / c.ops, rme: r.latency.rme });
  }
  console.log(`\n## ${title}`);
  console.log('| case | ops/s | ns/op | ±% |');
  console.log('|---|---:|---:|---:|');
  for (const m of out.values()) {
    console.log(`| ${m.name} | ${fmt(m.opsPerSec)} | ${m.nsPerOp.toFixed(1)} | ${m.rme.toFixed(1)} |`);
  }
  return out;
}

export function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
}

export function ratio(a: Measured, b: Measured): string {
  return (a.opsPerSec / b.opsPerSec).toFixed(2);
}
