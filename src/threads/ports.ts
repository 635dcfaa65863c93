import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** `n` message channels: their first ports (kept by the caller) and their second (sent to a thread). */
export function portPairs(n: number): [MessagePort[], MessagePort[]] {
  const ours: MessagePort[] = [];
  const theirs: MessagePort[] = [];
  for (let i = 0; i < n; i++) {
    const { port1, port2 } = new MessageChannel();
    ours.push(port1);
    theirs.push(port2);
  }
  return [ours, theirs];
}
