import { runConnections } from './connections.js';
import { runMessaging } from './messaging.js';
import type { BenchOptions } from './options.js';
import type { BenchResult } from './result.js';
import type { TimelineControl } from './timeline.js';

/**
 * The MQTT load generator behind `mozzie bench`: raw sockets speaking MQTT through the codec, with
 * pre-encoded packets and minimal work per message, so that the broker, not the generator, is measured.
 */
export async function runBench(options: BenchOptions, control: TimelineControl): Promise<BenchResult> {
  return options.mode === 'conn' ? runConnections(options, control) : runMessaging(options, control);
}

export { BenchError } from './errors.js';
export { Histogram } from './histogram.js';
export { type BenchMode, type BenchOptions, DEFAULTS, MODES, type RawBenchFlags, resolveOptions } from './options.js';
export { formatJson, formatProgress, formatSummary } from './report.js';
export type { BenchResult, LatencySummary, Progress } from './result.js';
export type { TimelineControl } from './timeline.js';
