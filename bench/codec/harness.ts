/**
 * Side-by-side timing: both contenders are warmed up, then measured in interleaved rounds within the
 * same process, so that CPU frequency changes, GC pressure and noisy neighbours hit both alike.
 */

/** Runs `iterations` units of work; each unit is `opsPerIteration` operations (packets). */
export type Work = (iterations: number) => void;

export interface Contender {
  readonly work: Work;
  readonly opsPerIteration: number;
}

export interface HarnessOptions {
  /** Time spent warming each contender before calibration (lets the JIT settle). */
  readonly warmupMs: number;
  /** Target duration of one measured batch of one contender. */
  readonly batchMs: number;
  /** Number of measured rounds kept; each round measures both contenders once. */
  readonly rounds: number;
}

/**
 * A batch during which the process got less than this share of a CPU (process CPU time over wall time) was
 * descheduled for part of it, by another process on a shared machine: its round is measured again.
 */
const MIN_CPU_SHARE = 0.9;
/** At most this many extra rounds per comparison replace disturbed ones; after that they are kept. */
const MAX_EXTRA_ROUNDS_FACTOR = 2;

export interface Sample {
  /** Median operations per second over the rounds. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly perRound: readonly number[];
}

export interface Comparison {
  readonly ours: Sample;
  readonly theirs: Sample;
  /** Median over the rounds of ours / theirs, each pair measured back to back. */
  readonly ratio: number;
  /** Smallest and largest per-round ratio. */
  readonly ratioMin: number;
  readonly ratioMax: number;
  /** Rounds measured again because a batch was descheduled (see MIN_CPU_SHARE). */
  readonly disturbedRounds: number;
}

interface Timing {
  readonly seconds: number;
  /** Process CPU time over wall time during the batch. */
  readonly cpuShare: number;
}

/** Wall time taken by `iterations` units of work, and the share of a CPU the process got meanwhile. */
function timeBatch(work: Work, iterations: number): Timing {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  work(iterations);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuShare: seconds > 0 ? (used.user + used.system) / 1e6 / seconds : 1 };
}

/** Runs the work repeatedly for about `ms` milliseconds, doubling the batch; returns iterations per second. */
function warm(work: Work, ms: number): number {
  let iterations = 1;
  let spent = 0;
  let rate = 0;
  while (spent * 1000 < ms) {
    const s = timeBatch(work, iterations).seconds;
    spent += s;
    if (s > 0) rate = iterations / s;
    if (s * 1000 < ms / 8) iterations *= 2;
  }
  return rate;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function sample(perRound: number[]): Sample {
  return { median: median(perRound), min: Math.min(...perRound), max: Math.max(...perRound), perRound };
}

/**
 * Warms both contenders, sizes each batch to about `batchMs`, then measures rounds until `rounds` of them
 * were undisturbed. The order alternates between rounds (ours-theirs, theirs-ours, ...) so neither side
 * always runs right after a GC left by the other.
 */
export function compare(ours: Contender, theirs: Contender, options: HarnessOptions): Comparison {
  // Warm twice, interleaved, so each side's code is hot again after the other has run.
  warm(ours.work, options.warmupMs / 2);
  warm(theirs.work, options.warmupMs / 2);
  const ourRate = warm(ours.work, options.warmupMs / 2);
  const theirRate = warm(theirs.work, options.warmupMs / 2);
  const ourIterations = Math.max(1, Math.round((ourRate * options.batchMs) / 1000));
  const theirIterations = Math.max(1, Math.round((theirRate * options.batchMs) / 1000));

  const oursPerRound: number[] = [];
  const theirsPerRound: number[] = [];
  const ratios: number[] = [];
  let disturbed = 0;
  for (let round = 0; oursPerRound.length < options.rounds; round++) {
    let a: Timing;
    let b: Timing;
    if (round % 2 === 0) {
      a = timeBatch(ours.work, ourIterations);
      b = timeBatch(theirs.work, theirIterations);
    } else {
      b = timeBatch(theirs.work, theirIterations);
      a = timeBatch(ours.work, ourIterations);
    }
    if ((a.cpuShare < MIN_CPU_SHARE || b.cpuShare < MIN_CPU_SHARE) && disturbed < options.rounds * MAX_EXTRA_ROUNDS_FACTOR) {
      disturbed++;
      continue;
    }
    const oursOps = (ourIterations * ours.opsPerIteration) / a.seconds;
    const theirsOps = (theirIterations * theirs.opsPerIteration) / b.seconds;
    oursPerRound.push(oursOps);
    theirsPerRound.push(theirsOps);
    ratios.push(oursOps / theirsOps);
  }
  return {
    ours: sample(oursPerRound),
    theirs: sample(theirsPerRound),
    ratio: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    disturbedRounds: disturbed,
  };
}
