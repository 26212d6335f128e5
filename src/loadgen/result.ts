import type { Histogram } from './histogram.js';
import type { BenchMode } from './options.js';

/** What the latency figures measure. */
export type LatencyKind = 'end-to-end' | 'publish-to-ack' | 'connect' | 'none';

/** Milliseconds. */
export interface LatencySummary {
  readonly kind: LatencyKind;
  readonly samples: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

/** One line of live progress, once a second. */
export interface Progress {
  readonly phase: 'warmup' | 'run';
  /** Seconds since the load started (warm-up included). */
  readonly elapsed: number;
  readonly sentPerSecond: number;
  readonly receivedPerSecond: number;
  /** conn mode: handshakes completed per second. */
  readonly connectsPerSecond: number;
  /** Over the last second, milliseconds; null without samples. */
  readonly p50: number | null;
  readonly p99: number | null;
  /** Errors since the start. */
  readonly errors: number;
  readonly connections: number;
  /** The generator's CPU over the last second, % of one core. */
  readonly cpuPercent: number;
}

/** The final summary (also the --json output). */
export interface BenchResult {
  readonly mode: BenchMode;
  readonly broker: string;
  readonly protocolVersion: number;
  readonly clients: number;
  readonly publishers: number;
  readonly subscribers: number;
  readonly qos: number;
  readonly payloadBytes: number;
  readonly topic: string;
  /** Target messages (conn: connections) per second; 0 = as fast as possible. */
  readonly targetRate: number;
  /** QoS 1/2 in flight per publisher after the broker's Receive Maximum, or null. */
  readonly window: number | null;
  readonly warmupSeconds: number;
  /** Length of the measured stretch (shorter than asked if interrupted). */
  readonly durationSeconds: number;
  readonly sent: number;
  /** QoS 1/2: publishes the broker acknowledged. */
  readonly acked: number;
  readonly received: number;
  /** Deliveries to expect from `sent` (pubsub), or null when unknown. */
  readonly expected: number | null;
  readonly sentPerSecond: number;
  readonly receivedPerSecond: number;
  /** conn mode. */
  readonly connects: number;
  readonly connectsPerSecond: number;
  /** Connections open at the end of the run. */
  readonly connectionsOpen: number;
  readonly latency: LatencySummary;
  readonly errors: {
    readonly total: number;
    readonly publishFailures: number;
    readonly connectionErrors: number;
    /** The first message of each kind of error. */
    readonly messages: readonly string[];
  };
  /** The generator's own CPU during the measured stretch, % of one core. */
  readonly cpu: { readonly percent: number; readonly user: number; readonly system: number };
  /** Ended by Ctrl-C or lost connections before the duration was up. */
  readonly stoppedEarly: string | null;
}

/** Percentiles of a histogram (microseconds) as milliseconds. */
export function summarize(kind: LatencyKind, h: Histogram): LatencySummary {
  const ms = (micros: number): number | null => (Number.isNaN(micros) ? null : Math.round(micros) / 1000);
  if (kind === 'none' || h.count === 0) return { kind, samples: h.count, p50: null, p90: null, p99: null, max: null, mean: null };
  return {
    kind,
    samples: h.count,
    p50: ms(h.percentile(50)),
    p90: ms(h.percentile(90)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
    mean: ms(h.mean),
  };
}
