import type { SaveItem } from './types.ts';

/** A message as stored once: its body, the device that sent it and its cmd. */
export interface UniqueBody {
  body: Uint8Array;
  deviceId: number;
  cmd: number;
}

/**
 * The bodies of a batch, each once: items that carry the same body (the same object: a peer
 * IM's two copies, a normal group's copy per member), from the same device and with the
 * same cmd, are one message in several queues. `of[i]` is item i's index in `bodies`.
 */
export function uniqueBodies(items: readonly SaveItem[]): { bodies: UniqueBody[]; of: number[] } {
  const bodies: UniqueBody[] = [];
  const of = new Array<number>(items.length);
  const seen = new Map<Uint8Array, number>();
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    let b = seen.get(it.body);
    if (b === undefined || bodies[b]!.deviceId !== it.deviceId || bodies[b]!.cmd !== it.cmd) {
      b = bodies.length;
      bodies.push({ body: it.body, deviceId: it.deviceId, cmd: it.cmd });
      seen.set(it.body, b);
    }
    of[i] = b;
  }
  return { bodies, of };
}
