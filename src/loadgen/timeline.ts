import type { BenchOptions } from './options.js';
import { type BenchResult, type LatencyKind, type Progress, summarize } from './result.js';
import { CpuMeter, epochNow, Stats } from './stats.js';

/** What a scenario plugs into the timeline. */
export interface TimelineHooks {
  /** Connections open now (progress). */
  connections(): number;
  /** The load starts (warm-up included). */
  start(): void;
  /** Every few milliseconds while the load runs, with the seconds since it started. */
  tick(elapsed: number): void;
  /** The measured stretch is over (or the run was stopped): send nothing more. */
  stopSending(): void;
  /** After stopping: true once what is still in flight has arrived; `quietMs` since the last change. */
  drained(quietMs: number): boolean;
  /** Every half Keep Alive: a PINGREQ on each connection, so idle ones are not dropped. */
  keepAlive(): void;
}

export interface Measured {
  readonly seconds: number;
  readonly cpu: { readonly percent: number; readonly user: number; readonly system: number };
  readonly stoppedEarly: string | null;
}

export interface TimelineControl {
  readonly onProgress: (progress: Progress) => void;
  readonly signal?: AbortSignal;
}

const TICK_MS = 5;
const PROGRESS_MS = 1000;
/** How long the end of a run waits at most for messages and acknowledgements in flight. */
const DRAIN_MS = 5000;

/**
 * The clock of a run: warm-up, measured stretch, drain. It resets the counters when the warm-up ends,
 * reports progress once a second, stops on time, on abort (Ctrl-C) or when a scenario gives up, and turns
 * the counters into the final result.
 */
export class Timeline {
  readonly stats = new Stats();
  private readonly options: BenchOptions;
  private readonly control: TimelineControl;
  private finish: ((reason: string | null) => void) | undefined;
  private pendingStop: string | undefined;

  constructor(options: BenchOptions, control: TimelineControl) {
    this.options = options;
    this.control = control;
  }

  /** Ends the run now (e.g. every connection was lost); the reason shows in the result. */
  stop(reason: string): void {
    if (this.finish !== undefined) this.finish(reason);
    else this.pendingStop ??= reason;
  }

  run(hooks: TimelineHooks, warmupSeconds = this.options.warmupSeconds): Promise<Measured> {
    const { stats, options, control } = this;
    return new Promise<Measured>((resolve) => {
      const t0 = performance.now();
      let measuring = false;
      let measureStart = t0;
      let cpu = new CpuMeter();
      const progressCpu = new CpuMeter();
      let prev = { t: t0, sent: 0, received: 0, connects: 0 };
      const beginMeasure = (now: number): void => {
        stats.reset(epochNow());
        measuring = true;
        measureStart = now;
        cpu = new CpuMeter();
        prev = { t: now, sent: 0, received: 0, connects: 0 };
      };
      const report = (): void => {
        const now = performance.now();
        const dt = (now - prev.t) / 1000;
        const h = stats.interval;
        const p50 = h.count === 0 ? null : h.percentile(50) / 1000;
        const p99 = h.count === 0 ? null : h.percentile(99) / 1000;
        stats.latency.add(h);
        h.reset();
        control.onProgress({
          phase: measuring ? 'run' : 'warmup',
          elapsed: (now - t0) / 1000,
          sentPerSecond: dt > 0 ? (stats.sent - prev.sent) / dt : 0,
          receivedPerSecond: dt > 0 ? (stats.received - prev.received) / dt : 0,
          connectsPerSecond: dt > 0 ? (stats.connects - prev.connects) / dt : 0,
          p50,
          p99,
          errors: stats.errors,
          connections: hooks.connections(),
          cpuPercent: progressCpu.sample(),
        });
        prev = { t: now, sent: stats.sent, received: stats.received, connects: stats.connects };
      };

      if (warmupSeconds <= 0) beginMeasure(t0);
      const end = warmupSeconds + options.durationSeconds;
      const ticker = setInterval(() => {
        const elapsed = (performance.now() - t0) / 1000;
        if (!measuring && elapsed >= warmupSeconds) beginMeasure(performance.now());
        if (elapsed >= end) {
          done(null);
          return;
        }
        hooks.tick(elapsed);
      }, TICK_MS);
      const progress = setInterval(report, PROGRESS_MS);
      const pinger = options.keepAlive > 0 ? setInterval(() => hooks.keepAlive(), options.keepAlive * 500) : undefined;
      const onAbort = (): void => done('interrupted');
      control.signal?.addEventListener('abort', onAbort);

      let finished = false;
      const done = (reason: string | null): void => {
        if (finished) return;
        finished = true;
        this.finish = undefined;
        clearInterval(ticker);
        clearInterval(progress);
        if (pinger !== undefined) clearInterval(pinger);
        control.signal?.removeEventListener('abort', onAbort);
        hooks.stopSending();
        const now = performance.now();
        const seconds = measuring ? (now - measureStart) / 1000 : 0;
        const usage = cpu.total();
        if (!measuring) stats.reset(epochNow());
        this.drain(hooks, () => {
          stats.latency.add(stats.interval);
          stats.interval.reset();
          resolve({ seconds, cpu: usage, stoppedEarly: reason });
        });
      };
      this.finish = done;
      hooks.start();
      if (this.pendingStop !== undefined) done(this.pendingStop);
      else if (control.signal?.aborted === true) done('interrupted');
    });
  }

  /** Waits (at most DRAIN_MS) for what is in flight to arrive. */
  private drain(hooks: TimelineHooks, then: () => void): void {
    const started = performance.now();
    let lastChange = started;
    let last = this.stats.received + this.stats.acked;
    const check = (): void => {
      const now = performance.now();
      const seen = this.stats.received + this.stats.acked;
      if (seen !== last) {
        last = seen;
        lastChange = now;
      }
      if (hooks.drained(now - lastChange) || now - started >= DRAIN_MS) then();
      else setTimeout(check, 20);
    };
    check();
  }

  result(parts: {
    publishers: number;
    subscribers: number;
    window: number | null;
    expected: number | null;
    latencyKind: LatencyKind;
    connectionsOpen: number;
    measured: Measured;
  }): BenchResult {
    const { stats, options } = this;
    const seconds = parts.measured.seconds;
    const perSecond = (n: number): number => (seconds > 0 ? n / seconds : 0);
    return {
      mode: options.mode,
      broker: `${options.host}:${options.port}`,
      protocolVersion: options.version,
      clients: options.clients,
      publishers: parts.publishers,
      subscribers: parts.subscribers,
      qos: options.qos,
      payloadBytes: options.payloadBytes,
      topic: options.topic.source,
      targetRate: options.rate,
      window: parts.window,
      warmupSeconds: options.warmupSeconds,
      durationSeconds: Math.round(seconds * 1000) / 1000,
      sent: stats.sent,
      acked: stats.acked,
      received: stats.received,
      expected: parts.expected,
      sentPerSecond: perSecond(stats.sent),
      receivedPerSecond: perSecond(stats.received),
      connects: stats.connects,
      connectsPerSecond: perSecond(stats.connects),
      connectionsOpen: parts.connectionsOpen,
      latency: summarize(parts.latencyKind, stats.latency),
      errors: {
        total: stats.errors,
        publishFailures: stats.publishFailures,
        connectionErrors: stats.connectionErrors,
        messages: [...stats.firstErrors.values()],
      },
      cpu: {
        percent: round1(parts.measured.cpu.percent),
        user: round1(parts.measured.cpu.user),
        system: round1(parts.measured.cpu.system),
      },
      stoppedEarly: parts.measured.stoppedEarly,
    };
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
