import { Buffer } from 'node:buffer';
import type { Connection } from './connection.js';
import type { Stats } from './stats.js';

/** Acknowledgements (four bytes each) written at once when this many bytes wait; fewer wait up to ACK_DELAY_MS. */
export const ACK_BATCH_BYTES = 16 * 4;
const ACK_DELAY_MS = 1;

/**
 * What the connections of one run share: the counters, the buffer reads land in, and the batching of
 * writes that answer reads. Reads are handled as they come; the acknowledgements and publisher top-ups
 * they cause are written once per event-loop turn (setImmediate), so the several reads a socket may get
 * in one turn cost one write. A write is the dearest thing the generator does (on loopback the writer pays
 * for the whole TCP path), so a connection with only a few acknowledgements keeps them up to a
 * millisecond for more: a broker sending slowly waits that much longer for them, one sending fast fills a
 * batch at once.
 */
export class RunContext {
  readonly stats: Stats;
  readonly readBuffer: Buffer;
  private dirty: Connection[] = [];
  private queued = false;
  private deferred: Connection[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(stats: Stats) {
    this.stats = stats;
    this.readBuffer = Buffer.allocUnsafe(64 * 1024);
  }

  /** `conn` has something to write after its reads: do it at the end of this event-loop turn. */
  mark(conn: Connection): void {
    this.dirty.push(conn);
    if (!this.queued) {
      this.queued = true;
      setImmediate(this.flush);
    }
  }

  /** `conn` holds a few acknowledgements: write them within ACK_DELAY_MS. */
  defer(conn: Connection): void {
    this.deferred.push(conn);
    this.timer ??= setTimeout(this.flushDeferred, ACK_DELAY_MS);
  }

  private readonly flush = (): void => {
    this.queued = false;
    const list = this.dirty;
    this.dirty = [];
    for (const c of list) c.flush();
  };

  private readonly flushDeferred = (): void => {
    this.timer = undefined;
    const list = this.deferred;
    this.deferred = [];
    for (const c of list) c.writeAcks();
  };
}
