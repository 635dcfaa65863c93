/**
 * What a GoBelieve deployment keeps in Redis next to its ims log and the import carries
 * over: the keys users acknowledged (hash `users_<appid>_<uid>`, fields `sync_key` and
 * `group_sync_key_<gid>`) and the numbers it gave devices (`devices_<device id>_<platform>`
 * → an integer, the number its queue records carry). Read with SCAN, never KEYS.
 */
import type { Redis } from 'ioredis';
import { deviceNumber } from '../protocol/device.ts';
import type { AckedKey } from '../store/types.ts';

const SCAN_COUNT = 1000;

/** Scans keys matching `pattern`, `SCAN_COUNT` at a time. */
async function* scan(redis: Redis, pattern: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (keys.length > 0) yield keys;
  } while (cursor !== '0');
}

/** `devices_<id>_<platform>` → [id, platform]; the platform is what follows the last `_`. */
export function parseDeviceKey(key: string): [string, number] | undefined {
  const rest = key.slice('devices_'.length);
  const i = rest.lastIndexOf('_');
  if (!key.startsWith('devices_') || i <= 0) return undefined;
  const platform = Number(rest.slice(i + 1));
  return Number.isInteger(platform) && platform > 0 ? [rest.slice(0, i), platform] : undefined;
}

export interface DeviceMap {
  /** GoBelieve's device number → the number this project derives from the same device id and platform. */
  numbers: Map<number, number>;
  /** Keys that were not a device entry (e.g. the `devices_id` counter) or held no number. */
  skipped: number;
}

export async function readDevices(redis: Redis): Promise<DeviceMap> {
  const numbers = new Map<number, number>();
  let skipped = 0;
  for await (const keys of scan(redis, 'devices_*')) {
    const parsed = keys.map(parseDeviceKey);
    const values = await redis.mget(keys);
    parsed.forEach((p, i) => {
      const n = Number(values[i]);
      if (p === undefined || !Number.isSafeInteger(n) || n <= 0) return void skipped++;
      numbers.set(n, deviceNumber(p[0], p[1]));
    });
  }
  return { numbers, skipped };
}

/** `users_<appid>_<uid>` → its acknowledged keys, a batch per SCAN step. */
export async function* readAcked(redis: Redis): AsyncGenerator<AckedKey[]> {
  for await (const keys of scan(redis, 'users_*')) {
    const pipe = redis.pipeline();
    const owners: [number, number][] = [];
    for (const key of keys) {
      const m = /^users_(\d+)_(\d+)$/.exec(key);
      if (m === null) continue;
      owners.push([Number(m[1]), Number(m[2])]);
      pipe.hgetall(key);
    }
    const results = (await pipe.exec()) ?? [];
    const batch: AckedKey[] = [];
    results.forEach(([err, value], i) => {
      if (err !== null || value === null || typeof value !== 'object') return;
      const [appid, uid] = owners[i]!;
      for (const [field, raw] of Object.entries(value as Record<string, string>)) {
        const key = Number(raw);
        if (!Number.isSafeInteger(key) || key <= 0) continue;
        if (field === 'sync_key') batch.push({ appid, uid, gid: 0, key });
        const g = /^group_sync_key_(\d+)$/.exec(field);
        if (g !== null) batch.push({ appid, uid, gid: Number(g[1]), key });
      }
    });
    if (batch.length > 0) yield batch;
  }
}
