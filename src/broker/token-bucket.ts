import type { Limits } from './options.js';

/**
 * A token bucket: `rate` tokens a second up to `burst`. Plain numbers, no timers: the caller passes the
 * time, so it costs a subtraction per use and tests drive it with a fake clock.
 *
 * `take(n)` succeeds when the bucket holds `min(n, burst)` tokens and then subtracts `n`, so a cost larger
 * than the burst (a big message against a byte rate) passes on a full bucket and leaves a debt that the
 * refill pays back: the average rate holds and no single message is impossible to send.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  take(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < Math.min(n, this.burst)) return false;
    this.tokens -= n;
    return true;
  }

  /** Whether the bucket is full again by `now`: an idle bucket that can be forgotten. */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    const elapsed = now - this.refilledAt;
    if (elapsed <= 0) return;
    this.refilledAt = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
  }
}

/** A burst of 0 means one second's worth of the rate (at least one token). */
export function burstFor(rate: number, burst: number): number {
  return burst > 0 ? burst : Math.max(1, Math.ceil(rate));
}

/**
 * The per-connection publish limits (limits.maxPublishRate, limits.maxPublishByteRate). A connection has
 * one only when a limit is set, so an unlimited broker checks one field per PUBLISH.
 */
export class PublishRateLimit {
  private readonly messages: TokenBucket | undefined;
  private readonly bytes: TokenBucket | undefined;

  private constructor(limits: Limits, now: number) {
    this.messages =
      limits.maxPublishRate > 0
        ? new TokenBucket(limits.maxPublishRate, burstFor(limits.maxPublishRate, limits.publishBurst), now)
        : undefined;
    this.bytes =
      limits.maxPublishByteRate > 0
        ? new TokenBucket(limits.maxPublishByteRate, burstFor(limits.maxPublishByteRate, limits.publishByteBurst), now)
        : undefined;
  }

  static for(limits: Limits, now: number): PublishRateLimit | undefined {
    return limits.maxPublishRate > 0 || limits.maxPublishByteRate > 0 ? new PublishRateLimit(limits, now) : undefined;
  }

  /** Charges one message of `bytes` application bytes; names the limit it exceeds, if any. */
  charge(bytes: number, now: number): 'maxPublishRate' | 'maxPublishByteRate' | undefined {
    if (this.messages !== undefined && !this.messages.take(1, now)) return 'maxPublishRate';
    if (this.bytes !== undefined && !this.bytes.take(bytes, now)) return 'maxPublishByteRate';
    return undefined;
  }
}
