/**
 * What the benchmark measures: the scenarios of the broker performance issue, their metrics, and the
 * goals Mozzie is held to. Shared by the orchestrator (table, goals) and the load generator.
 */

export type BrokerName = 'mozzie' | 'mosquitto' | 'aedes';
export const BROKERS: readonly BrokerName[] = ['mozzie', 'mosquitto', 'aedes'];

export type ScenarioId = 'a16' | 'a1k' | 'b' | 'c0' | 'c1' | 'd' | 'e' | 'f' | 'g';

export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** Mozzie must be at least this many times better than Mosquitto (1 = no worse). */
  readonly vsMosquitto?: number;
  /** Mozzie must be at least this many times better than Aedes. */
  readonly vsAedes?: number;
  /** An absolute bound on Mozzie's value (upper for 'lower', lower for 'higher'). */
  readonly absolute?: number;
}

export interface ScenarioSpec {
  readonly id: ScenarioId;
  /** The flag letter that selects it (a selects a16 and a1k). */
  readonly letter: string;
  readonly title: string;
  readonly metrics: readonly MetricSpec[];
  /** Whether warm-up and --duration apply (steady-state rate) or it is a one-shot measurement. */
  readonly steady: boolean;
  /** Tail latency suffers from any other work on the CPUs: repeat runs where others took more than this (percent). */
  readonly contendedAbove?: number;
}

const delivered = (vsMosquitto: number): MetricSpec => ({
  key: 'delivered',
  label: 'delivered',
  unit: 'msg/s',
  better: 'higher',
  vsMosquitto,
  vsAedes: 3,
});

export const SCENARIOS: readonly ScenarioSpec[] = [
  { id: 'a16', letter: 'a', title: 'a) 100 pub -> 1 wildcard sub, QoS 0, 16 B', metrics: [delivered(2)], steady: true },
  { id: 'a1k', letter: 'a', title: 'a) 100 pub -> 1 wildcard sub, QoS 0, 1 KiB', metrics: [delivered(2)], steady: true },
  { id: 'b', letter: 'b', title: 'b) 1 pub -> 1,000 subs, QoS 0, 16 B', metrics: [delivered(2)], steady: true },
  { id: 'c0', letter: 'c', title: 'c) 500 pub/sub pairs, QoS 0, 16 B', metrics: [delivered(2)], steady: true },
  { id: 'c1', letter: 'c', title: 'c) 500 pub/sub pairs, QoS 1, 16 B, window 32', metrics: [delivered(1)], steady: true },
  {
    id: 'd',
    letter: 'd',
    title: 'd) latency at 20,000 msg/s, QoS 0, 1 pub -> 1 sub',
    steady: true,
    contendedAbove: 5,
    metrics: [
      { key: 'p50', label: 'p50', unit: 'ms', better: 'lower' },
      { key: 'p90', label: 'p90', unit: 'ms', better: 'lower' },
      { key: 'p99', label: 'p99', unit: 'ms', better: 'lower', vsMosquitto: 1, vsAedes: 3 },
      { key: 'max', label: 'max', unit: 'ms', better: 'lower' },
    ],
  },
  {
    id: 'e',
    letter: 'e',
    title: 'e) 10,000 idle connections',
    steady: false,
    metrics: [
      { key: 'connRate', label: 'connect rate', unit: 'conn/s', better: 'higher', vsAedes: 3 },
      // The load generator's connect() does both ends' TCP handshake work in the kernel and nears a full core
      // at about 11k conn/s; connections per broker CPU-second shows the brokers' own cost regardless.
      { key: 'connPerCpuSecond', label: 'connects per broker CPU-second', unit: 'conn', better: 'higher' },
      { key: 'bytesPerConn', label: 'memory per connection', unit: 'B', better: 'lower', vsAedes: 3, absolute: 4096 },
    ],
  },
  {
    id: 'f',
    letter: 'f',
    title: 'f) 100,000 wildcard subscriptions (1,000 clients x 100), random topics, QoS 0',
    steady: true,
    metrics: [
      // Informational: the scenario's measure is the match/delivery rate below.
      { key: 'subscribeRate', label: 'subscribe', unit: 'filters/s', better: 'higher' },
      { key: 'matched', label: 'published (matched)', unit: 'msg/s', better: 'higher' },
      { ...delivered(2) },
    ],
  },
  {
    id: 'g',
    letter: 'g',
    title: 'g) 100,000 retained messages, then a new subscriber to r/#',
    steady: false,
    metrics: [
      // Informational: the scenario's measure is the delivery time below.
      { key: 'storeRate', label: 'store (QoS 1 retained)', unit: 'msg/s', better: 'higher' },
      { key: 'deliverSeconds', label: 'all delivered after', unit: 's', better: 'lower', vsAedes: 3 },
    ],
  },
];

export function scenarioById(id: ScenarioId): ScenarioSpec {
  const s = SCENARIOS.find((x) => x.id === id);
  if (s === undefined) throw new Error(`unknown scenario ${id}`);
  return s;
}

/** What the orchestrator asks the load generator to run. */
export interface LoadRequest {
  readonly scenario: ScenarioId;
  readonly broker: BrokerName;
  readonly port: number;
  readonly brokerPid: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** What the load generator answers. */
export interface LoadResult {
  readonly metrics: Readonly<Record<string, number>>;
  /** Load generator CPU use during the measurement, percent of one core (process.cpuUsage). */
  readonly loadgenCpu: number;
  /** Broker CPU use during the measurement, percent of one core (/proc/PID/stat). */
  readonly brokerCpu: number;
  /** CPU 0 / CPU 1 used by other processes during the measurement, percent (contention check). */
  readonly foreignCpu: readonly [number, number];
  readonly notes: readonly string[];
}
