/**
 * Reconnect delays: exponential growth from `initial` to `max`, with "full jitter" (a random delay between
 * half and all of the step), so a fleet of devices that lost the same broker does not come back in step.
 */
export interface BackoffOptions {
  /** First delay in ms (default 1000). */
  readonly initial?: number;
  /** Largest delay in ms (default 30000). */
  readonly max?: number;
  /** Growth per attempt (default 2). */
  readonly factor?: number;
  /** Fraction of the delay that is random, 0..1 (default 0.5). */
  readonly jitter?: number;
}

export class Backoff {
  private attempt = 0;
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly jitter: number;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initial = options.initial ?? 1000;
    this.max = options.max ?? 30_000;
    this.factor = options.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  }

  /** The delay before the next attempt; each call moves one step up. */
  next(): number {
    const base = Math.min(this.max, this.initial * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
