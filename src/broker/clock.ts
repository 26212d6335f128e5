/**
 * Time, injected: the broker reads the clock and sets timers only through this, so tests drive
 * keep-alive, expiry and will delay without real waiting.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds. Timers never keep the process alive on their own. */
  setTimer(fn: () => void, ms: number): Timer;
}

class SystemTimer implements Timer {
  constructor(private readonly handle: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.handle);
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    // setTimeout caps at 2^31-1 ms; longer timers re-arm when they fire early.
    const handle = setTimeout(fn, Math.min(ms, 2_147_483_647));
    handle.unref();
    return new SystemTimer(handle);
  },
};
