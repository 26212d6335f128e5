import { Histogram } from './histogram.js';

/**
 * Counters every connection of one run shares. They are plain fields bumped on the hot path; the runner
 * reads them once a second for progress and resets them when the warm-up ends.
 */
export class Stats {
  /** PUBLISH packets written. */
  sent = 0;
  /** QoS 1/2 publishes the broker completed (PUBACK, or PUBCOMP). */
  acked = 0;
  /** PUBLISH packets received by subscribers (stamped before `measureFrom`: not counted). */
  received = 0;
  /** Connections that completed the handshake (conn mode counts each one of a churn). */
  connects = 0;
  /** Publishes the broker refused (Reason Code 0x80 or above). */
  publishFailures = 0;
  /** Connections closed by the broker or the network, and handshakes that failed during the run. */
  connectionErrors = 0;
  /** PUBLISH packets written and received since the start, warm-up included (never reset: flow control). */
  sentTotal = 0;
  deliveredTotal = 0;
  /** Latency samples of the current progress interval, folded into `latency` once a second. */
  readonly interval = new Histogram();
  readonly latency = new Histogram();
  /** Received messages stamped before this time (epoch ms) were sent during the warm-up: ignored. */
  measureFrom = 0;
  /** The first error of each kind, for the summary. */
  readonly firstErrors = new Map<string, string>();

  get errors(): number {
    return this.publishFailures + this.connectionErrors;
  }

  noteError(kind: string, message: string): void {
    if (!this.firstErrors.has(kind)) this.firstErrors.set(kind, message);
  }

  /** Zeroes everything measured so far (end of the warm-up); errors are kept. */
  reset(measureFrom: number): void {
    this.sent = 0;
    this.acked = 0;
    this.received = 0;
    this.connects = 0;
    this.interval.reset();
    this.latency.reset();
    this.measureFrom = measureFrom;
  }
}

/** This process's CPU time as a share of one core, between calls to `sample()`. */
export class CpuMeter {
  private lastUsage = process.cpuUsage();
  private lastTime = performance.now();
  private readonly startUsage = this.lastUsage;
  private readonly startTime = this.lastTime;

  /** CPU % of one core since the previous sample. */
  sample(): number {
    const usage = process.cpuUsage();
    const now = performance.now();
    const percent = percentOf(usage.user - this.lastUsage.user + usage.system - this.lastUsage.system, now - this.lastTime);
    this.lastUsage = usage;
    this.lastTime = now;
    return percent;
  }

  /** CPU % of one core since the meter was made (or restarted), split into user and system time. */
  total(): { percent: number; user: number; system: number } {
    const usage = process.cpuUsage(this.startUsage);
    const ms = performance.now() - this.startTime;
    return { percent: percentOf(usage.user + usage.system, ms), user: percentOf(usage.user, ms), system: percentOf(usage.system, ms) };
  }
}

function percentOf(micros: number, ms: number): number {
  return ms <= 0 ? 0 : micros / 10 / ms;
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable between processes. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}
