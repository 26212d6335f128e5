/**
 * A latency histogram in the manner of HdrHistogram, with fixed memory whatever the number of samples:
 * values (microseconds, integers) below 2^SUB_BITS are counted exactly, larger ones in buckets of
 * 2^SUB_BITS sub-buckets per power of two, so any reported value is within 1/2^SUB_BITS (1.6%) of the
 * true one. The range reaches 2^MAX_EXPONENT microseconds (about 19 hours): larger values are clamped.
 * Recording is a few integer operations and one array increment.
 */

const SUB_BITS = 6;
const SUB_COUNT = 1 << SUB_BITS;
const MAX_EXPONENT = 36;
/** Bucket groups: one exact group [0, 64) and one per power of two from 2^6 to 2^MAX_EXPONENT. */
const SLOTS = (MAX_EXPONENT - SUB_BITS + 2) * SUB_COUNT;
const MAX_VALUE = 2 ** MAX_EXPONENT - 1;

function slotOf(value: number): number {
  if (value < SUB_COUNT) return value;
  // value >= 64: the position of its highest bit decides the group, the next SUB_BITS bits the sub-bucket.
  const high = value < 2 ** 31 ? 31 - Math.clz32(value) : Math.floor(Math.log2(value));
  const shift = high - SUB_BITS;
  const sub = Math.floor(value / 2 ** shift) - SUB_COUNT;
  return (shift + 1) * SUB_COUNT + sub;
}

/** The middle of the values a slot covers. */
function slotValue(slot: number): number {
  if (slot < SUB_COUNT) return slot;
  const shift = Math.floor(slot / SUB_COUNT) - 1;
  const sub = slot % SUB_COUNT;
  const low = (SUB_COUNT + sub) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

export class Histogram {
  private readonly counts = new Float64Array(SLOTS);
  count = 0;
  /** Exact smallest and largest recorded values (microseconds). */
  min = Number.POSITIVE_INFINITY;
  max = 0;
  private sum = 0;

  /** Records one value in microseconds (fractions dropped, negatives count as 0). */
  record(micros: number): void {
    const v = micros <= 0 ? 0 : micros >= MAX_VALUE ? MAX_VALUE : Math.floor(micros);
    const slot = slotOf(v);
    this.counts[slot] = (this.counts[slot] as number) + 1;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  /** Adds another histogram's samples to this one. */
  add(other: Histogram): void {
    if (other.count === 0) return;
    for (let i = 0; i < SLOTS; i++) {
      const c = other.counts[i] ?? 0;
      if (c > 0) this.counts[i] = (this.counts[i] ?? 0) + c;
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
    if (other.min < this.min) this.min = other.min;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * The value below which `p` percent of the samples fall (microseconds), NaN without samples. The
   * exact maximum is returned for p = 100, and no percentile is reported above it.
   */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < SLOTS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(Math.max(slotValue(i), this.min), this.max);
    }
    return this.max;
  }
}
