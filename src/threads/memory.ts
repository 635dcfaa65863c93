import { getHeapStatistics } from 'node:v8';

/** The calling thread's V8 heap in use and its memory outside the heap (ArrayBuffers, Buffers). */
export function threadMemory(): { heapUsed: number; external: number } {
  const h = getHeapStatistics();
  return { heapUsed: h.used_heap_size, external: h.external_memory };
}
