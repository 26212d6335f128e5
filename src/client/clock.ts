/**
 * Time for the client, injected so tests drive keep alive, timeouts and reconnects without waiting.
 * Unlike the broker's, these timers keep the process alive: a client waiting to reconnect is work to do.
 */
export interface ClientTimer {
  cancel(): void;
}

export interface ClientClock {
  now(): number;
  setTimer(fn: () => void, ms: number): ClientTimer;
}

export const realClock: ClientClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(handle) };
  },
};
