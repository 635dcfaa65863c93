import { Platform } from './constants.ts';
import { joinI64 } from './int64.ts';

/**
 * The number the store records as a message's device (docs/store.md, "What is stored, and where"), derived from
 * the client's device id and platform so that no registry (Redis) is needed: a 52-bit
 * string hash, never 0. WEB and an empty device id are 0: such a connection never sees SELF.
 */
export function deviceNumber(deviceId: string, platform: number): number {
  if (deviceId === '' || platform === Platform.WEB) return 0;
  let hi = 0x811c9dc5, lo = 0x01000193;
  const s = `${deviceId}_${platform}`;
  for (let i = 0; i < s.length; i++) {
    hi = Math.imul(hi ^ s.charCodeAt(i), 0x01000193) >>> 0;
    lo = Math.imul(lo ^ hi, 0x5bd1e995) >>> 0;
  }
  return joinI64(hi & 0xfffff, lo) || 1;
}
