import type { Machine } from '../codec/env.js';
import type { Library, Target, WorkerRequest, WorkerResult, Workload } from './spec.js';

/** The issue's goal: Mozzie's client publishes at least this many times MQTT.js's rate. */
export const GOAL = 2;

export interface Round {
  readonly target: Target;
  readonly round: number;
  readonly workload: Workload;
  readonly mozzie: WorkerResult;
  readonly mqttjs: WorkerResult;
  /** Measurements repeated because other processes took CPU (foreign CPU over the limit). */
  readonly redone: number;
}

export interface WorkloadSummary {
  readonly target: Target;
  readonly workload: Workload;
  readonly rate: Readonly<Record<Library, number>>;
  /** Median of the per-round ratios mozzie / mqttjs, with the smallest and largest. */
  readonly rateRatio: number;
  readonly rateRatioMin: number;
  readonly rateRatioMax: number;
  readonly cpuMicrosPerMessage: Readonly<Record<Library, number>>;
  /** mqttjs CPU per message / mozzie CPU per message (median of rounds): how much less CPU ours needs. */
  readonly cpuRatio: number;
  readonly clientCpuPercent: Readonly<Record<Library, number>>;
  readonly brokerCpuPercent: Readonly<Record<Library, number>>;
  readonly rssGrowth: Readonly<Record<Library, number>>;
  readonly heapGrowth: Readonly<Record<Library, number>>;
  readonly heapRetained: Readonly<Record<Library, number>>;
  readonly redone: number;
}

export interface ClientBenchReport {
  readonly machine: Machine;
  readonly mosquitto: { readonly version: string; readonly settings: readonly string[] };
  readonly mqttjsVersion: string;
  readonly settings: Omit<WorkerRequest, 'library' | 'workload' | 'port' | 'brokerPid' | 'messages' | 'warmupMessages'> & {
    readonly messages: Readonly<Record<Workload, number>>;
    readonly warmupMessages: Readonly<Record<Workload, number>>;
    readonly rounds: number;
    readonly foreignCpuLimit: number;
  };
  readonly workloads: readonly WorkloadSummary[];
  readonly rounds: readonly Round[];
  readonly loadAverageAtEnd: number;
  readonly durationSeconds: number;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function summarize(target: Target, workload: Workload, rounds: readonly Round[]): WorkloadSummary {
  const rs = rounds.filter((r) => r.workload === workload && r.target === target);
  const per = (f: (w: WorkerResult) => number): Record<Library, number> => ({
    mozzie: median(rs.map((r) => f(r.mozzie))),
    mqttjs: median(rs.map((r) => f(r.mqttjs))),
  });
  const ratios = rs.map((r) => r.mozzie.rate / r.mqttjs.rate);
  return {
    target,
    workload,
    rate: per((w) => w.rate),
    rateRatio: median(ratios),
    rateRatioMin: Math.min(...ratios),
    rateRatioMax: Math.max(...ratios),
    cpuMicrosPerMessage: per((w) => w.cpuMicrosPerMessage),
    cpuRatio: median(rs.map((r) => r.mqttjs.cpuMicrosPerMessage / r.mozzie.cpuMicrosPerMessage)),
    clientCpuPercent: per((w) => w.cpuPercent),
    brokerCpuPercent: per((w) => w.brokerCpuPercent),
    rssGrowth: per((w) => w.rssGrowth),
    heapGrowth: per((w) => w.heapGrowth),
    heapRetained: per((w) => w.heapRetained),
    redone: rs.reduce((n, r) => n + r.redone, 0),
  };
}

function rate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${(n / 1e3).toFixed(1)} k/s`;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

const NAMES: Readonly<Record<Workload, string>> = { qos0: 'QoS 0 publish', qos1: 'QoS 1 publish' };
const TARGET_NAMES: Readonly<Record<Target, string>> = { mosquitto: 'Mosquitto', sink: 'null broker' };

function label(target: Target, workload: Workload): string {
  return `${NAMES[workload]}, ${TARGET_NAMES[target]}`;
}

export function machineLines(r: ClientBenchReport): string[] {
  const m = r.machine;
  return [
    `- Machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.platform}`,
    `- Node ${m.node} (V8 ${m.v8}); MQTT.js ${r.mqttjsVersion}; Mosquitto ${r.mosquitto.version} (${r.mosquitto.settings.join(', ')})`,
    '- Pinning: the broker (Mosquitto, or the null broker) on CPU 0, each measured client process on CPU 1 (taskset)',
    `- Load average (1 min): ${m.loadAverageAtStart} at start, ${r.loadAverageAtEnd} at end; ${r.durationSeconds.toFixed(0)} s in all`,
  ];
}

/** The Markdown report: settings, the comparison table, memory, and per-round figures. */
export function textReport(r: ClientBenchReport): string {
  const s = r.settings;
  const out: string[] = [];
  out.push(...machineLines(r));
  out.push(
    `- Workload: one client, MQTT ${s.version === 5 ? '5.0' : '3.1.1'}, ${s.payloadBytes}-byte payload, ${s.messages.qos0.toLocaleString('en-US')} QoS 0 messages (await every ${s.batch}th), ` +
      `${s.messages.qos1.toLocaleString('en-US')} QoS 1 messages (${s.window} in flight, awaited together); ${s.rounds} interleaved rounds, a fresh process per measurement`,
  );
  out.push(
    '- Null broker: bench/client/sink.ts acknowledges and forwards nothing (one write per read), so the client sets the rate. Against Mosquitto the ratio is capped by Mosquitto once its core is saturated (Broker CPU near 100%).',
  );
  out.push(
    `- Broker CPU: during the Mozzie run / the MQTT.js run, % of its core. Redone: measurements repeated because other processes took over ${s.foreignCpuLimit}% of a core.`,
  );
  out.push('');
  out.push(
    table(
      [
        'Workload, broker',
        'Mozzie',
        'MQTT.js',
        'Ratio (min-max)',
        `Goal ${GOAL}x`,
        'CPU/msg Mozzie',
        'CPU/msg MQTT.js',
        'CPU ratio',
        'Broker CPU',
      ],
      r.workloads.map((w) => [
        label(w.target, w.workload),
        rate(w.rate.mozzie),
        rate(w.rate.mqttjs),
        `${w.rateRatio.toFixed(2)}x (${w.rateRatioMin.toFixed(2)}-${w.rateRatioMax.toFixed(2)})`,
        w.rateRatio >= GOAL ? 'met' : 'missed',
        `${w.cpuMicrosPerMessage.mozzie.toFixed(2)} µs`,
        `${w.cpuMicrosPerMessage.mqttjs.toFixed(2)} µs`,
        `${w.cpuRatio.toFixed(2)}x`,
        `${w.brokerCpuPercent.mozzie.toFixed(0)}% / ${w.brokerCpuPercent.mqttjs.toFixed(0)}%`,
      ]),
    ),
  );
  out.push('');
  out.push(
    table(
      ['Memory (median)', 'RSS peak growth Mozzie', 'MQTT.js', 'Heap growth Mozzie', 'MQTT.js', 'Retained after GC Mozzie', 'MQTT.js'],
      r.workloads.map((w) => [
        label(w.target, w.workload),
        mib(w.rssGrowth.mozzie),
        mib(w.rssGrowth.mqttjs),
        mib(w.heapGrowth.mozzie),
        mib(w.heapGrowth.mqttjs),
        mib(w.heapRetained.mozzie),
        mib(w.heapRetained.mqttjs),
      ]),
    ),
  );
  out.push('');
  out.push('Per round (msg/s, client CPU %, foreign CPU %):');
  out.push('');
  out.push(
    table(
      ['Round', 'Workload, broker', 'Mozzie', 'MQTT.js', 'Ratio', 'Redone'],
      r.rounds.map((x) => [
        String(x.round),
        label(x.target, x.workload),
        `${rate(x.mozzie.rate)} (${x.mozzie.cpuPercent.toFixed(0)}%, ${x.mozzie.foreignCpuPercent.toFixed(0)}%)`,
        `${rate(x.mqttjs.rate)} (${x.mqttjs.cpuPercent.toFixed(0)}%, ${x.mqttjs.foreignCpuPercent.toFixed(0)}%)`,
        `${(x.mozzie.rate / x.mqttjs.rate).toFixed(2)}x`,
        String(x.redone),
      ]),
    ),
  );
  return `${out.join('\n')}\n`;
}
