import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat; NaN if unreadable. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size of a process in bytes, from /proc/PID/status VmRSS; NaN if unreadable. */
export function processRssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Seconds each CPU has spent running tasks (user, nice, system), from /proc/stat. Compared with what the
 * broker and the load generator used, it shows CPU taken by other processes on the same cores.
 */
export function cpuBusySeconds(): number[] {
  try {
    const out: number[] = [];
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+) (\d+) (\d+) (\d+)/.exec(line);
      if (m === null) continue;
      out[Number(m[1])] = (Number(m[2]) + Number(m[3]) + Number(m[4])) / USER_HZ;
    }
    return out;
  } catch {
    return [];
  }
}

/** A point in time with the CPU both sides had used by then. */
export interface Snapshot {
  readonly at: number;
  readonly loadgenCpu: NodeJS.CpuUsage;
  readonly brokerCpu: number;
  readonly cpus: readonly number[];
}

export function snapshot(brokerPid: number): Snapshot {
  return { at: performance.now(), loadgenCpu: process.cpuUsage(), brokerCpu: processCpuSeconds(brokerPid), cpus: cpuBusySeconds() };
}

/** CPU use of the load generator and the broker between two snapshots, in percent of one core. */
export interface CpuShare {
  readonly seconds: number;
  readonly loadgenCpu: number;
  readonly brokerCpu: number;
  /** CPU 0 and CPU 1 busy with anything but the broker (on 0) and the load generator (on 1), percent. */
  readonly foreignCpu: readonly [number, number];
}

export function cpuBetween(from: Snapshot, to: Snapshot): CpuShare {
  const seconds = (to.at - from.at) / 1000;
  const used = process.cpuUsage(from.loadgenCpu);
  const loadgenCpu = ((used.user + used.system) / 1e6 / seconds) * 100;
  const brokerCpu = ((to.brokerCpu - from.brokerCpu) / seconds) * 100;
  const busy = (cpu: number) => (((to.cpus[cpu] ?? 0) - (from.cpus[cpu] ?? 0)) / seconds) * 100;
  return {
    seconds,
    loadgenCpu,
    brokerCpu,
    foreignCpu: [Math.max(0, busy(0) - brokerCpu), Math.max(0, busy(1) - loadgenCpu)],
  };
}

export interface RateResult extends CpuShare {
  /** Counted events per second over the measurement window. */
  readonly rate: number;
  readonly count: number;
}

/** Waits out the warm-up, then counts what `count()` gains over `durationMs`. */
export async function measureRate(count: () => number, brokerPid: number, warmupMs: number, durationMs: number): Promise<RateResult> {
  await sleep(warmupMs);
  const c0 = count();
  const s0 = snapshot(brokerPid);
  await sleep(durationMs);
  const c1 = count();
  const s1 = snapshot(brokerPid);
  const cpu = cpuBetween(s0, s1);
  return { ...cpu, count: c1 - c0, rate: (c1 - c0) / cpu.seconds };
}

/** Value at quantile q (0..1) of an ascending array, nearest-rank. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}
