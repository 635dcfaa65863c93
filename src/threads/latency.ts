/**
 * Latency histograms of the Channel and store threads, in microseconds. The class itself,
 * not the package's index: the index also loads the WebAssembly build (~1 MiB of heap in
 * every thread that imports it), which `build()` with its defaults does not use either.
 */
import hdrInt32 from 'hdr-histogram-js/dist/Int32Histogram.js';

export type LatencyHistogram = InstanceType<typeof hdrInt32.default>;

/** 1 µs to 60 s, two significant digits. */
export function latencyHistogram(): LatencyHistogram {
  return new hdrInt32.default(1, 60_000_000, 2);
}

export interface LatencySummary { count: number; p50: number; p99: number; max: number }

/** Percentiles never above the max (the histogram rounds them up to a bucket's top). */
export function summarize(h: LatencyHistogram): LatencySummary {
  return { count: h.totalCount, p50: Math.min(h.getValueAtPercentile(50), h.maxValue), p99: Math.min(h.getValueAtPercentile(99), h.maxValue), max: h.maxValue };
}
