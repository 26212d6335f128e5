/**
 * Runs at most `concurrency` tasks at once and queues at most `maxQueued` more; beyond that a task is
 * refused at once. Password hashing goes through one of these so a flood of logins waits in a bounded
 * line instead of filling libuv's thread pool (which file and DNS work share) or the broker's memory.
 */
export class ConcurrencyLimiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
  ) {}

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Runs `task` when a slot is free; undefined (and `task` never runs) when the queue is full. A task
   * still waiting when `signal` aborts leaves the queue without running, and the promise rejects.
   */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> | undefined {
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    if (this.running < this.concurrency) return this.start(task);
    if (this.queue.length >= this.maxQueued) return undefined;
    return new Promise<T>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', abandon);
        this.start(task).then(resolve, reject);
      };
      const abandon = () => {
        const i = this.queue.indexOf(go);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', abandon, { once: true });
      this.queue.push(go);
    });
  }

  private start<T>(task: () => Promise<T>): Promise<T> {
    this.running++;
    let result: Promise<T>;
    try {
      result = task();
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.finally(() => {
      this.running--;
      this.queue.shift()?.();
    });
  }
}
