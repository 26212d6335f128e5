/**
 * What the durability benchmark measures, shared by the orchestrator (run.ts) and the load generator
 * (loadgen.ts): the broker set-ups compared, the QoS 1 scenarios and the shape of their results.
 */

/** Mozzie with the sqlite store at each sync level (and, for reference, without a store); Mosquitto with `persistence true`. */
export type Setup = 'mozzie-full' | 'mozzie-normal' | 'mozzie-memory' | 'mosquitto';
export const SETUPS: readonly Setup[] = ['mozzie-full', 'mozzie-normal', 'mozzie-memory', 'mosquitto'];
/** What a run compares unless told otherwise (mozzie-memory is a reference, on request). */
export const DEFAULT_SETUPS: readonly Setup[] = ['mozzie-full', 'mozzie-normal', 'mosquitto'];

export type ScenarioId = 'online' | 'offline';
export const SCENARIO_IDS: readonly ScenarioId[] = ['online', 'offline'];

export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  /** Mozzie (each sqlite set-up) must reach at least this many times Mosquitto's value. */
  readonly vsMosquitto?: number;
}

export interface ScenarioSpec {
  readonly id: ScenarioId;
  readonly title: string;
  readonly metrics: readonly MetricSpec[];
}

/** Publisher/subscriber pairs, each pair on its own topic. */
export const PAIRS = 100;
/** QoS 1 PUBLISH packets each publisher keeps unacknowledged (a new one per PUBACK). */
export const WINDOW = 32;
/** Offline scenario: messages each publisher sends while its subscriber is away. */
export const OFFLINE_MESSAGES = 2000;
export const PAYLOAD_BYTES = 64;

export const SCENARIOS: readonly ScenarioSpec[] = [
  {
    id: 'online',
    title: `a) ${PAIRS} pub -> ${PAIRS} persistent subs online (pairs), QoS 1, ${PAYLOAD_BYTES} B, window ${WINDOW}`,
    metrics: [
      { key: 'acked', label: 'acknowledged to publishers (msg/s)', vsMosquitto: 1 },
      { key: 'delivered', label: 'delivered to subscribers (msg/s)' },
    ],
  },
  {
    id: 'offline',
    title: `b) ${PAIRS} pub -> ${PAIRS} persistent subs offline, ${OFFLINE_MESSAGES} QoS 1 msgs each (${(PAIRS * OFFLINE_MESSAGES).toLocaleString('en-US')}), then drain`,
    metrics: [
      { key: 'queued', label: 'queue: acknowledged to publishers (msg/s)', vsMosquitto: 1 },
      { key: 'drained', label: 'drain on reconnect: delivered and acknowledged (msg/s)', vsMosquitto: 1 },
    ],
  },
];

export function scenarioById(id: ScenarioId): ScenarioSpec {
  const s = SCENARIOS.find((x) => x.id === id);
  if (s === undefined) throw new Error(`unknown scenario ${id}`);
  return s;
}

export interface LoadRequest {
  readonly scenario: ScenarioId;
  readonly setup: Setup;
  readonly port: number;
  readonly brokerPid: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface PhaseCpu {
  /** Broker CPU, percent of one core. */
  readonly broker: number;
  /** Load generator CPU, percent of one core. */
  readonly loadgen: number;
}

export interface LoadResult {
  readonly metrics: Readonly<Record<string, number>>;
  /** CPU use per measured phase. */
  readonly cpu: Readonly<Record<string, PhaseCpu>>;
  /** CPU 0 / CPU 1 used by other processes during the measurement, percent (contention check). */
  readonly foreignCpu: readonly [number, number];
  readonly notes: readonly string[];
}
