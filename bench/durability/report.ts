import { median } from '../broker/measure.js';
import { formatValue, table } from '../broker/report.js';
import type { LoadResult, ScenarioSpec, Setup } from './spec.js';
import type { StartupResult } from './startup.js';

/** One set-up's results for one scenario, one entry per round (undefined where a round failed). */
export interface SetupRuns {
  readonly setup: Setup;
  readonly runs: (LoadResult | undefined)[];
  readonly errors: string[];
}

export interface ScenarioRuns {
  readonly spec: ScenarioSpec;
  readonly setups: SetupRuns[];
}

const LABEL: Record<Setup, string> = {
  'mozzie-full': 'Mozzie sync=full',
  'mozzie-normal': 'Mozzie sync=normal',
  'mozzie-memory': 'Mozzie --memory',
  mosquitto: 'Mosquitto persistence true',
};

export function setupLabel(s: Setup): string {
  return LABEL[s];
}

function medianOf(runs: SetupRuns | undefined, pick: (r: LoadResult) => number | undefined): number {
  if (runs === undefined) return Number.NaN;
  return median(runs.runs.map((r) => (r === undefined ? Number.NaN : (pick(r) ?? Number.NaN))));
}

export interface Summary {
  readonly scenario: string;
  readonly metric: string;
  readonly medians: Partial<Record<Setup, number>>;
  /** Each Mozzie set-up's median over Mosquitto's. */
  readonly ratios: Partial<Record<Setup, number>>;
  readonly goal: string;
}

export function summarize(s: ScenarioRuns): Summary[] {
  return s.spec.metrics.map((m) => {
    const medians: Partial<Record<Setup, number>> = {};
    for (const r of s.setups) medians[r.setup] = medianOf(r, (x) => x.metrics[m.key]);
    const mosquitto = medians.mosquitto ?? Number.NaN;
    const ratios: Partial<Record<Setup, number>> = {};
    for (const r of s.setups) if (r.setup !== 'mosquitto') ratios[r.setup] = (medians[r.setup] ?? Number.NaN) / mosquitto;
    let goal = '';
    const times = m.vsMosquitto;
    if (times !== undefined && Number.isFinite(mosquitto)) {
      const durable = s.setups.filter((r) => r.setup === 'mozzie-full' || r.setup === 'mozzie-normal').map((r) => r.setup);
      const parts = durable.map((d) => `${(ratios[d] ?? 0) >= times ? 'met' : 'MISSED'} (${d.slice(7)})`);
      goal = `>= ${times}x Mosquitto: ${parts.join(', ')}`;
    }
    return { scenario: s.spec.title, metric: m.label, medians, ratios, goal };
  });
}

function ratioText(v: number | undefined): string {
  return v !== undefined && Number.isFinite(v) ? `${v.toFixed(2)}x` : '-';
}

export function resultsTable(setups: readonly Setup[], summaries: readonly Summary[]): string {
  const mozzies = setups.filter((s) => s !== 'mosquitto');
  const header = [
    'scenario',
    'metric',
    ...setups.map(setupLabel),
    ...(setups.includes('mosquitto') ? mozzies.map((m) => `${setupLabel(m).replace('Mozzie ', '')} / Mosquitto`) : []),
    'goal',
  ];
  const rows = summaries.map((s) => [
    s.scenario,
    s.metric,
    ...setups.map((x) => formatValue(s.medians[x], 'msg/s')),
    ...(setups.includes('mosquitto') ? mozzies.map((m) => ratioText(s.ratios[m])) : []),
    s.goal,
  ]);
  const right = new Set<number>();
  for (let i = 2; i < header.length - 1; i++) right.add(i);
  return table(header, rows, right);
}

/** Median broker / load generator CPU per phase of each scenario. */
export function cpuTable(setups: readonly Setup[], scenarios: readonly ScenarioRuns[]): string {
  const rows: string[][] = [];
  for (const s of scenarios) {
    const phases = [...new Set(s.setups.flatMap((r) => r.runs.flatMap((x) => (x === undefined ? [] : Object.keys(x.cpu)))))];
    for (const p of phases) {
      const cells = [`${s.spec.id}: ${p}`];
      for (const setup of setups) {
        const r = s.setups.find((x) => x.setup === setup);
        const broker = medianOf(r, (x) => x.cpu[p]?.broker);
        const loadgen = medianOf(r, (x) => x.cpu[p]?.loadgen);
        cells.push(Number.isFinite(broker) ? `${broker.toFixed(0)}% / ${loadgen.toFixed(0)}%` : '-');
      }
      rows.push(cells);
    }
  }
  return table(['phase', ...setups.map(setupLabel)], rows, new Set(setups.map((_, i) => i + 1)));
}

export function detailLines(scenarios: readonly ScenarioRuns[]): string[] {
  const lines: string[] = [];
  for (const s of scenarios) {
    lines.push(s.spec.title);
    for (const r of s.setups) {
      const values = s.spec.metrics
        .map((m) => `${m.key} ${r.runs.map((x) => formatValue(x?.metrics[m.key], 'msg/s')).join(' / ')}`)
        .join('; ');
      const notes = [...new Set(r.runs.flatMap((x) => x?.notes ?? []))].slice(0, 6).join('; ');
      lines.push(`  ${setupLabel(r.setup).padEnd(27)} ${values}${notes === '' ? '' : `  [${notes}]`}`);
      for (const e of r.errors) lines.push(`  ${setupLabel(r.setup).padEnd(27)} ERROR ${e}`);
    }
  }
  return lines;
}

const mib = (b: number): string => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(0)} MiB` : '-');
const sec = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '-');

export function startupTable(r: StartupResult): string {
  const rows = r.rounds.map((x, i) => [
    `round ${i + 1}`,
    sec(x.listenMs),
    sec(x.connackMs),
    sec(x.loadMs),
    mib(x.rssBytes),
    mib(x.peakRssBytes),
    `${x.sessions} / ${x.retained}`,
  ]);
  const med = (pick: (x: StartupResult['rounds'][number]) => number) => median(r.rounds.map(pick));
  rows.push([
    'median',
    sec(med((x) => x.listenMs)),
    sec(med((x) => x.connackMs)),
    sec(med((x) => x.loadMs)),
    mib(med((x) => x.rssBytes)),
    mib(med((x) => x.peakRssBytes)),
    '',
  ]);
  rows.push([
    'empty data dir',
    sec(r.empty.listenMs),
    sec(r.empty.connackMs),
    '-',
    mib(r.empty.rssBytes),
    mib(r.empty.peakRssBytes),
    '0 / 0',
  ]);
  return table(
    [
      'start',
      'listening after',
      'CONNACK after',
      'store loaded in (broker log)',
      'RSS when ready',
      'peak RSS',
      'sessions / retained loaded',
    ],
    rows,
    new Set([1, 2, 3, 4, 5]),
  );
}
