import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from '../codec/env.js';
import type { TlsLoadResult } from './loadgen.js';

/** One broker, one scenario, one round. */
export interface Measurement extends TlsLoadResult {
  readonly broker: 'mozzie' | 'mosquitto';
  readonly scenario: string;
  /** CPU use over the window, as a fraction of one core: the broker, the load generator, anything else. */
  readonly brokerCpu: number;
  readonly loadgenCpu: number;
  readonly othersCpu: number;
  /** Measurements taken for this one (others were disturbed by other processes). */
  readonly tries: number;
}

export interface RunInfo {
  readonly machine: Machine;
  readonly mosquitto: string;
  readonly openssl: string;
  readonly nodeOpenssl: string;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly concurrency: number;
  readonly runSeconds: number;
}

export const SECTION_TITLE = '## TLS handshakes against Mosquitto (`npm run bench:tls`)';

const SCENARIO_TEXT: Record<string, string> = {
  ec: 'ECDSA P-256',
  rsa: 'RSA 2048',
  mtls: 'mutual TLS, P-256',
};

function median(values: readonly number[]): number {
  const s = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

interface Row {
  readonly scenario: string;
  readonly mozzie: number;
  readonly mosquitto: number;
  readonly range: string;
  readonly mozzieLatency: string;
  readonly mosquittoLatency: string;
  readonly mozzieCpu: number;
  readonly mosquittoCpu: number;
  /** Connections per second of broker CPU time: what one core would sustain, whoever set the pace. */
  readonly mozziePerCpu: number;
  readonly mosquittoPerCpu: number;
  readonly loadgenCpu: number;
  readonly othersCpu: number;
  readonly redone: number;
  readonly errors: number;
}

function rows(ms: readonly Measurement[], scenarios: readonly string[]): Row[] {
  return scenarios.map((scenario) => {
    const of = (b: Measurement['broker']) => ms.filter((m) => m.scenario === scenario && m.broker === b);
    const z = of('mozzie');
    const q = of('mosquitto');
    const rates = (list: Measurement[]) => list.map((m) => m.rate);
    const latency = (list: Measurement[]) =>
      list.length === 0 ? '-' : `${median(list.map((m) => m.p50)).toFixed(2)} / ${median(list.map((m) => m.p99)).toFixed(2)}`;
    const mn = (list: Measurement[]) => Math.min(...rates(list));
    const mx = (list: Measurement[]) => Math.max(...rates(list));
    return {
      scenario,
      mozzie: median(rates(z)),
      mosquitto: median(rates(q)),
      range: z.length === 0 || q.length === 0 ? '-' : `${(mn(z) / mx(q)).toFixed(2)}-${(mx(z) / mn(q)).toFixed(2)}`,
      mozzieLatency: latency(z),
      mosquittoLatency: latency(q),
      mozzieCpu: median(z.map((m) => m.brokerCpu)),
      mosquittoCpu: median(q.map((m) => m.brokerCpu)),
      mozziePerCpu: median(z.map((m) => m.rate / m.brokerCpu)),
      mosquittoPerCpu: median(q.map((m) => m.rate / m.brokerCpu)),
      loadgenCpu: median([...z, ...q].map((m) => m.loadgenCpu)),
      othersCpu: median([...z, ...q].map((m) => m.othersCpu)),
      errors: [...z, ...q].reduce((n, m) => n + m.errors, 0),
      redone: [...z, ...q].reduce((n, m) => n + m.tries - 1, 0),
    };
  });
}

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '-');
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '-');

/** The results table (Markdown, readable on a terminal too). */
export function table(ms: readonly Measurement[], scenarios: readonly string[]): string {
  const header = [
    '| scenario | mozzie conn/s | mosquitto conn/s | ratio | ratio range | mozzie conn per CPU-s | mosquitto conn per CPU-s | ratio | mozzie p50 / p99 ms | mosquitto p50 / p99 ms | CPU mozzie / mosquitto | CPU load gen / others | redone | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const body = rows(ms, scenarios).map(
    (r) =>
      `| ${SCENARIO_TEXT[r.scenario] ?? r.scenario} | ${fmt(r.mozzie)} | ${fmt(r.mosquitto)} | ${ratio(r.mozzie, r.mosquitto)} | ${r.range} | ${fmt(r.mozziePerCpu)} | ${fmt(r.mosquittoPerCpu)} | ${ratio(r.mozziePerCpu, r.mosquittoPerCpu)} | ${r.mozzieLatency} | ${r.mosquittoLatency} | ${pct(r.mozzieCpu)} / ${pct(r.mosquittoCpu)} | ${pct(r.loadgenCpu)} / ${pct(r.othersCpu)} | ${r.redone} | ${r.errors} |`,
  );
  return [...header, ...body].join('\n');
}

export function resultsSection(ms: readonly Measurement[], scenarios: readonly string[], info: RunInfo): string {
  const m = info.machine;
  const sample = ms[0];
  return [
    SECTION_TITLE,
    '',
    'New connections per second, each a full TLS handshake (no session resumption) followed by MQTT 3.1.1',
    'CONNECT / CONNACK and DISCONNECT, from a load generator keeping a fixed number of handshakes in flight.',
    'Both brokers use the same certificate and key, made by `mozzie certs` code for each key type.',
    'How it runs: [tls/README.md](tls/README.md).',
    '',
    '| | |',
    '| --- | --- |',
    `| Date | ${m.date.slice(0, 10)} (${m.date.slice(11, 16)} UTC) |`,
    `| CPU | \`${m.cpuModel}\`, \`nproc\` = ${m.nproc}, ${m.memoryGiB} GiB; brokers pinned to CPU 0, load generator to CPU 1 |`,
    `| OS | ${m.platform} |`,
    `| Node | ${m.node} (${info.nodeOpenssl === '?' ? 'OpenSSL ?' : `bundled OpenSSL ${info.nodeOpenssl}`}) |`,
    `| Mosquitto | ${info.mosquitto} (system ${info.openssl}) |`,
    `| TLS | ${sample?.protocol ?? '?'}, ${sample?.cipher ?? '?'} (both brokers) |`,
    `| Load | ${info.concurrency} handshakes in flight; ${info.warmupS} s warm-up, ${info.durationS} s measured; ${info.rounds} interleaved rounds, medians |`,
    `| Conditions | load average ${m.loadAverageAtStart} at start (a shared machine); run time ${info.runSeconds} s |`,
    '',
    table(ms, scenarios),
    '',
    'ratio: Mozzie / Mosquitto of the medians; ratio range: worst and best pairing of rounds. conn per CPU-s:',
    'connections completed per second of broker CPU time, the capacity of one core whoever set the pace (read this',
    'first). CPU: share of one core used in the window by each broker, by the load generator (median of all rounds)',
    'and by other processes on the two CPUs. A broker near 100% is the bottleneck; below that the load generator (one',
    'Node process) sets the pace and conn/s compares the clients more than the brokers. redone: measurements repeated',
    'because other processes took over 20% of a core during the window (2 tries at most, the least disturbed kept).',
    '',
  ].join('\n');
}

/** Replaces the TLS section of RESULTS.md (from its heading to the next "## "), or appends it. */
export function updateResults(path: string, section: string): void {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const start = text.indexOf(SECTION_TITLE);
  if (start === -1) {
    writeFileSync(path, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf('\n## ', start + SECTION_TITLE.length);
  const rest = next === -1 ? '' : text.slice(next + 1);
  writeFileSync(path, `${text.slice(0, start)}${section}${rest === '' ? '' : `\n${rest}`}`);
}
