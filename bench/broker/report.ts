import { median } from './measure.js';
import { BROKERS, type BrokerName, type LoadResult, type MetricSpec, type ScenarioId, type ScenarioSpec } from './spec.js';

/** One broker's results for one scenario, one entry per round (undefined where a round failed). */
export interface BrokerRuns {
  readonly broker: BrokerName;
  readonly runs: (LoadResult | undefined)[];
  readonly errors: string[];
}

export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  readonly brokers: BrokerRuns[];
}

export interface MetricSummary {
  readonly scenario: ScenarioId;
  readonly metric: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly medians: Partial<Record<BrokerName, number>>;
  /** Mozzie's median over the other's median. */
  readonly vsMosquitto: number;
  readonly vsAedes: number;
  readonly goals: readonly GoalCheck[];
}

export interface GoalCheck {
  readonly text: string;
  readonly met: boolean;
}

function medianOf(runs: BrokerRuns | undefined, pick: (r: LoadResult) => number | undefined): number {
  if (runs === undefined) return Number.NaN;
  return median(runs.runs.map((r) => (r === undefined ? Number.NaN : (pick(r) ?? Number.NaN))));
}

/** Whether Mozzie is `times` times better than another broker on this metric (ratio = Mozzie / other). */
function beats(m: MetricSpec, ratio: number, times: number): boolean {
  return m.better === 'higher' ? ratio >= times : ratio <= 1 / times;
}

function checkGoals(m: MetricSpec, mozzie: number, vsMosquitto: number, vsAedes: number): GoalCheck[] {
  const goals: GoalCheck[] = [];
  if (m.vsMosquitto !== undefined && Number.isFinite(vsMosquitto)) {
    const text = m.vsMosquitto === 1 ? 'no worse than Mosquitto' : `>= ${m.vsMosquitto}x Mosquitto`;
    goals.push({ text, met: beats(m, vsMosquitto, m.vsMosquitto) });
  }
  if (m.vsAedes !== undefined && Number.isFinite(vsAedes))
    goals.push({ text: `>= ${m.vsAedes}x Aedes`, met: beats(m, vsAedes, m.vsAedes) });
  if (m.absolute !== undefined && Number.isFinite(mozzie)) {
    const met = m.better === 'lower' ? mozzie < m.absolute : mozzie >= m.absolute;
    goals.push({ text: `${m.better === 'lower' ? '<' : '>='} ${m.absolute} ${m.unit}`, met });
  }
  return goals;
}

export function summarize(spec: ScenarioSpec, result: ScenarioResult): MetricSummary[] {
  return spec.metrics.map((m) => {
    const medians: Partial<Record<BrokerName, number>> = {};
    for (const b of result.brokers) medians[b.broker] = medianOf(b, (r) => r.metrics[m.key]);
    const mozzie = medians.mozzie ?? Number.NaN;
    const vsMosquitto = mozzie / (medians.mosquitto ?? Number.NaN);
    const vsAedes = mozzie / (medians.aedes ?? Number.NaN);
    return {
      scenario: spec.id,
      metric: m.label,
      unit: m.unit,
      better: m.better,
      medians,
      vsMosquitto,
      vsAedes,
      goals: checkGoals(m, mozzie, vsMosquitto, vsAedes),
    };
  });
}

export function formatValue(v: number | undefined, unit: string): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (unit === 'ms') return v < 10 ? v.toFixed(3) : v.toFixed(1);
  if (unit === 's') return v.toFixed(2);
  if (unit === 'B' || unit === 'conn') return v.toFixed(0);
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)} k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

function ratio(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : '-';
}

export function table(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (rightAligned.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function resultsTable(specs: readonly ScenarioSpec[], summaries: readonly MetricSummary[]): string {
  const rows = summaries.map((s) => {
    const spec = specs.find((x) => x.id === s.scenario);
    const goals = s.goals.map((g) => `${g.met ? 'met' : 'MISSED'}: ${g.text}`).join('; ');
    return [
      spec?.title ?? s.scenario,
      `${s.metric} (${s.unit}, ${s.better === 'higher' ? 'higher' : 'lower'} is better)`,
      formatValue(s.medians.mozzie, s.unit),
      formatValue(s.medians.mosquitto, s.unit),
      formatValue(s.medians.aedes, s.unit),
      ratio(s.vsMosquitto),
      ratio(s.vsAedes),
      goals,
    ];
  });
  return table(
    ['scenario', 'metric', 'Mozzie', 'Mosquitto', 'Aedes', 'Mozzie/Mosquitto', 'Mozzie/Aedes', 'goals'],
    rows,
    new Set([2, 3, 4, 5, 6]),
  );
}

/** Median CPU use of broker (CPU 0) and load generator (CPU 1) per scenario and broker. */
export function cpuTable(specs: readonly ScenarioSpec[], results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => {
    const spec = specs.find((x) => x.id === r.id);
    const cells: string[] = [spec?.title ?? r.id];
    for (const name of BROKERS) {
      const b = r.brokers.find((x) => x.broker === name);
      const broker = medianOf(b, (x) => x.brokerCpu);
      const loadgen = medianOf(b, (x) => x.loadgenCpu);
      cells.push(Number.isFinite(broker) ? `${broker.toFixed(0)}% / ${loadgen.toFixed(0)}%` : '-');
    }
    return cells;
  });
  return table(['scenario', 'Mozzie', 'Mosquitto', 'Aedes'], rows, new Set([1, 2, 3]));
}

/** Every round's value of each metric, and the notes the load generator made, for the record. */
export function detailLines(specs: readonly ScenarioSpec[], results: readonly ScenarioResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    const spec = specs.find((x) => x.id === r.id);
    if (spec === undefined) continue;
    lines.push(`${spec.title}`);
    for (const b of r.brokers) {
      const values = spec.metrics
        .map((m) => `${m.label} ${b.runs.map((x) => formatValue(x?.metrics[m.key], m.unit)).join(' / ')}`)
        .join('; ');
      const notes = [...new Set(b.runs.flatMap((x) => x?.notes ?? []))].slice(0, 6).join('; ');
      lines.push(`  ${b.broker.padEnd(9)} ${values}${notes === '' ? '' : `  [${notes}]`}`);
      for (const e of b.errors) lines.push(`  ${b.broker.padEnd(9)} ERROR ${e}`);
    }
  }
  return lines;
}
