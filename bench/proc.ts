import { readFileSync, readdirSync } from 'node:fs';

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Peak and current resident memory of a process, KiB. */
export function memoryKiB(pid: number): { peak: number; rss: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { peak: get('VmHWM'), rss: get('VmRSS') };
}

/**
 * Resident and private memory of a process, MiB, from /proc/PID/smaps_rollup. Private is what
 * the process alone holds (its pages shared with no other process, such as the Node binary's
 * when the bench runner maps it too).
 */
export function residentMiB(pid: number): { rss: number; private: number } {
  const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
  return { rss: kib('Rss') / 1024, private: (kib('Private_Clean') + kib('Private_Dirty')) / 1024 };
}

/**
 * CPU seconds of each thread of a process, by thread name (threads of one name summed);
 * `kind` may map names to groups (e.g. every shard-N to "shards").
 */
export function threadCpu(pid: number, kind: (name: string) => string = (n) => n): Map<string, number> {
  const m = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = kind(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    m.set(name, (m.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
  }
  return m;
}
