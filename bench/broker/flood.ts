import type { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Conn, Counter } from './client.js';

/**
 * Closed-loop QoS 0 publishing. The load generator sees both ends, so it keeps at most `window`
 * deliveries outstanding (published x fan-out, minus received): enough to keep every broker busy, small
 * enough that no broker's outbound buffers overflow, so what is measured is sustainable delivered
 * throughput rather than how a broker sheds an unbounded flood. Messages a broker drops would hold the
 * window forever; after `stallMs` without progress they are written off and counted as lost.
 */

/** Pre-encoded PUBLISH packets written in one call, and how many deliveries they should cause. */
export interface Batch {
  readonly buf: Buffer;
  readonly messages: number;
  readonly deliveries: number;
}

const STALL_MS = 5000;

/** Many publishers sharing one window (scenarios a, b and f). */
export class SharedWindowFlood {
  published = 0;
  expected = 0;
  lost = 0;
  private cursor = 0;
  private readonly next: number[];
  private stopped = false;
  private readonly watchdog: NodeJS.Timeout;
  private lastReceived = 0;
  private lastProgress = performance.now();

  /** `batches[i]` is the cycle of batches publisher i writes. */
  constructor(
    private readonly publishers: readonly Conn[],
    private readonly batches: readonly (readonly Batch[])[],
    private readonly window: number,
    private readonly counter: Counter,
  ) {
    this.next = publishers.map(() => 0);
    this.watchdog = setInterval(this.check, 100);
  }

  get outstanding(): number {
    return this.expected - this.counter.received - this.lost;
  }

  readonly pump = (): void => {
    if (this.stopped) return;
    const n = this.publishers.length;
    let idle = 0;
    while (idle < n) {
      const i = this.cursor;
      this.cursor = i + 1 === n ? 0 : i + 1;
      const p = this.publishers[i] as Conn;
      if (p.blocked || p.closed) {
        idle++;
        continue;
      }
      const cycle = this.batches[i] as readonly Batch[];
      const k = this.next[i] as number;
      const b = cycle[k] as Batch;
      if (b.deliveries > this.window - this.outstanding && this.outstanding > 0) return;
      this.next[i] = k + 1 === cycle.length ? 0 : k + 1;
      this.expected += b.deliveries;
      this.published += b.messages;
      p.write(b.buf);
      idle = 0;
    }
  };

  private readonly check = (): void => {
    const received = this.counter.received;
    const now = performance.now();
    if (received !== this.lastReceived) {
      this.lastReceived = received;
      this.lastProgress = now;
      return;
    }
    if (this.outstanding > 0 && now - this.lastProgress > STALL_MS) {
      this.lost += this.outstanding;
      this.lastProgress = now;
      this.pump();
    }
  };

  stop(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
  }
}

/** One publisher per subscriber, each pair with its own window (scenario c at QoS 0). */
export class PairFlood {
  lost = 0;
  private stopped = false;
  private readonly watchdog: NodeJS.Timeout;
  private readonly lastReceived: number[];
  private readonly lastProgress: number[];
  private readonly lostPair: number[];

  constructor(
    private readonly pubs: readonly Conn[],
    private readonly subs: readonly Conn[],
    private readonly batches: readonly Batch[],
    private readonly window: number,
  ) {
    this.lastReceived = subs.map(() => 0);
    this.lastProgress = subs.map(() => performance.now());
    this.lostPair = subs.map(() => 0);
    this.watchdog = setInterval(this.check, 100);
  }

  /** Tops pair i up to its window. */
  pump(i: number): void {
    if (this.stopped) return;
    const p = this.pubs[i] as Conn;
    const s = this.subs[i] as Conn;
    const b = this.batches[i] as Batch;
    while (!p.blocked && !p.closed && p.sent - s.received - (this.lostPair[i] as number) + b.messages <= this.window) {
      p.sent += b.messages;
      p.write(b.buf);
    }
  }

  /** Subscriber or publisher connection activity for the pair at `conn.index`. */
  readonly onActivity = (conn: Conn): void => {
    this.pump(conn.index);
  };

  start(): void {
    for (let i = 0; i < this.pubs.length; i++) this.pump(i);
  }

  private readonly check = (): void => {
    const now = performance.now();
    for (let i = 0; i < this.subs.length; i++) {
      const s = this.subs[i] as Conn;
      if (s.received !== this.lastReceived[i]) {
        this.lastReceived[i] = s.received;
        this.lastProgress[i] = now;
        continue;
      }
      const outstanding = (this.pubs[i] as Conn).sent - s.received - (this.lostPair[i] as number);
      if (outstanding > 0 && now - (this.lastProgress[i] as number) > STALL_MS) {
        this.lostPair[i] = (this.lostPair[i] as number) + outstanding;
        this.lost += outstanding;
        this.lastProgress[i] = now;
        this.pump(i);
      }
    }
  };

  stop(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
  }
}
