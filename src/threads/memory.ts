import { getHeapStatistics } from 'node:v8';

/** The calling thread's V8 heap in use and its memory outside the heap (ArrayBuffers, Buffers). */
export function threadMemory(): { heapUsed: number; external: number } {
  const h = getHeapStatistics();
  return { heapUsed: h.used_heap_size, external: h.external_memory };
}

/**
 * With --expose-gc (test hooks): a full collection that also gives freed pages back to the
 * system, as V8's memory reducer does on its own only some seconds after the last
 * collection, so that memory read just after it is what is live.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: (o?: object) => void }).gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
