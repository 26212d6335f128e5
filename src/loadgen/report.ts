import type { BenchMode } from './options.js';
import type { BenchResult, LatencySummary, Progress } from './result.js';

/** Text for people: the live progress line and the final summary table. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function count(n: number): string {
  return integer.format(n);
}

/** Milliseconds with three significant digits. */
export function ms(value: number | null): string {
  if (value === null) return '-';
  if (value >= 100) return `${Math.round(value)} ms`;
  return `${value.toPrecision(3)} ms`;
}

function elapsed(seconds: number): string {
  return `${seconds.toFixed(0).padStart(3)}s`;
}

/** One progress line (no newline): what moved in the last second. */
export function formatProgress(p: Progress, mode: BenchMode): string {
  const parts = [p.phase === 'warmup' ? `warm-up ${elapsed(p.elapsed)}` : `${elapsed(p.elapsed)}`];
  if (mode === 'conn') {
    parts.push(`open ${count(p.connections).padStart(7)}`, `connects ${count(p.connectsPerSecond).padStart(7)}/s`);
  } else {
    if (mode !== 'sub') parts.push(`sent ${count(p.sentPerSecond).padStart(9)}/s`);
    if (mode !== 'pub') parts.push(`recv ${count(p.receivedPerSecond).padStart(9)}/s`);
  }
  parts.push(
    `p50 ${ms(p.p50).padStart(9)}`,
    `p99 ${ms(p.p99).padStart(9)}`,
    `errors ${count(p.errors)}`,
    `cpu ${p.cpuPercent.toFixed(0).padStart(3)}%`,
  );
  return parts.join('  ');
}

const LATENCY_LABEL: Readonly<Record<LatencySummary['kind'], string>> = {
  'end-to-end': 'latency (publish to delivery)',
  'publish-to-ack': 'latency (publish to PUBACK/PUBCOMP)',
  connect: 'latency (connect to CONNACK)',
  none: 'latency',
};

function latencyLine(l: LatencySummary): string {
  if (l.kind === 'none' || l.samples === 0) {
    const why =
      l.kind === 'none'
        ? 'not measured (QoS 0 without subscribers, or payload under 12 bytes)'
        : 'no samples (no stamped messages arrived)';
    return `  ${LATENCY_LABEL[l.kind]}: ${why}`;
  }
  return `  ${LATENCY_LABEL[l.kind]}:  p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)}  (${count(l.samples)} samples)`;
}

function rateText(r: BenchResult): string {
  const unit = r.mode === 'conn' ? 'connections/s' : 'msg/s';
  return r.targetRate === 0 ? 'as fast as possible' : `target ${count(r.targetRate)} ${unit}`;
}

/** The final summary: configuration, a table of totals and rates, latency, errors and generator CPU. */
export function formatSummary(r: BenchResult): string {
  const lines: string[] = [];
  const who =
    r.mode === 'conn'
      ? `${count(r.clients)} connections`
      : [r.publishers > 0 ? `${count(r.publishers)} publishers` : '', r.subscribers > 0 ? `${count(r.subscribers)} subscribers` : '']
          .filter((s) => s !== '')
          .join(', ');
  lines.push(`mozzie bench ${r.mode}: ${r.broker}, MQTT ${r.protocolVersion === 4 ? '3.1.1' : r.protocolVersion === 3 ? '3.1' : '5.0'}`);
  if (r.mode === 'conn') {
    lines.push(`  ${who}, ${rateText(r)}`);
  } else {
    const window = r.window === null ? '' : `, window ${r.window}`;
    lines.push(`  ${who}, QoS ${r.qos}, ${count(r.payloadBytes)}-byte payload, topic ${r.topic}, ${rateText(r)}${window}`);
  }
  const warm = r.warmupSeconds > 0 && r.mode !== 'conn' ? ` after a ${r.warmupSeconds} s warm-up` : '';
  lines.push(
    `  measured for ${r.durationSeconds.toFixed(1)} s${warm}${r.stoppedEarly === null ? '' : ` (stopped early: ${r.stoppedEarly})`}`,
  );
  lines.push('');

  const rows: [string, string, string, string][] = [];
  if (r.mode === 'conn') {
    rows.push(['connects', count(r.connects), count(r.connectsPerSecond), '']);
    rows.push(['open at end', count(r.connectionsOpen), '', '']);
  } else {
    if (r.publishers > 0) rows.push(['sent', count(r.sent), count(r.sentPerSecond), '']);
    if (r.publishers > 0 && r.qos > 0)
      rows.push(['acknowledged', count(r.acked), '', r.sent > 0 ? percent(r.acked, r.sent, 'of sent') : '']);
    if (r.subscribers > 0) {
      const note = r.expected === null ? '' : percent(r.received, r.expected, `of ${count(r.expected)} expected`);
      rows.push(['received', count(r.received), count(r.receivedPerSecond), note]);
    }
  }
  rows.push(['errors', count(r.errors.total), '', '']);
  const header: [string, string, string, string] = ['', 'total', 'per second', ''];
  const widths = [0, 1, 2].map((i) => Math.max(...[header, ...rows].map((row) => (row[i] ?? '').length)));
  const cell = (row: readonly string[]) =>
    `  ${(row[0] ?? '').padEnd(widths[0] ?? 0)}  ${(row[1] ?? '').padStart(widths[1] ?? 0)}  ${(row[2] ?? '').padStart(widths[2] ?? 0)}${row[3] === '' ? '' : `  ${row[3]}`}`;
  lines.push(cell(header).trimEnd());
  for (const row of rows) lines.push(cell(row).trimEnd());
  lines.push('');
  lines.push(latencyLine(r.latency));
  for (const m of r.errors.messages) lines.push(`  error: ${m}`);
  lines.push(
    `  generator CPU: ${r.cpu.percent.toFixed(0)}% of one core (user ${r.cpu.user.toFixed(0)}%, system ${r.cpu.system.toFixed(0)}%)${
      r.cpu.percent >= 90 ? ': the generator itself may be the limit; try fewer clients or another machine' : ''
    }`,
  );
  return `${lines.join('\n')}\n`;
}

function percent(part: number, whole: number, what: string): string {
  if (whole === 0) return '';
  return `(${((part / whole) * 100).toFixed(2)}% ${what})`;
}

export function formatJson(r: BenchResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
