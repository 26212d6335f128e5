import type { AllocationReport } from './alloc.js';
import type { Machine } from './env.js';
import type { Comparison, HarnessOptions } from './harness.js';
import type { Operation } from './workloads.js';

export interface CaseResult {
  readonly name: string;
  readonly family: string;
  readonly version: number;
  readonly packetBytes: number;
  /** Both encoders produce the same bytes. */
  readonly identicalBytes: boolean;
  readonly operations: Readonly<Partial<Record<Operation, Comparison>>>;
}

export interface BenchReport {
  readonly machine: Machine;
  readonly harness: HarnessOptions;
  readonly cases: readonly CaseResult[];
  readonly allocation?: AllocationReport;
  /** 1-minute load average when the measurements ended. */
  readonly loadAverageAtEnd: number;
  readonly durationSeconds: number;
}

/** The goal of the codec issue: PUBLISH encode and decode at least this many times mqtt-packet's rate. */
export const PUBLISH_GOAL = 3;

function rate(opsPerSecond: number): string {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(2)} M`;
  if (opsPerSecond >= 1e3) return `${(opsPerSecond / 1e3).toFixed(1)} k`;
  return opsPerSecond.toFixed(0);
}

function table(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (rightAligned.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function goalMark(c: CaseResult, cmp: Comparison): string {
  if (c.family !== 'publish') return '';
  return cmp.ratio >= PUBLISH_GOAL ? 'ok' : `< ${PUBLISH_GOAL}x`;
}

export function speedTable(cases: readonly CaseResult[]): string {
  const rows: string[][] = [];
  for (const c of cases) {
    for (const [op, cmp] of Object.entries(c.operations) as [Operation, Comparison][]) {
      rows.push([
        c.name,
        `${c.packetBytes}`,
        op,
        rate(cmp.ours.median),
        rate(cmp.theirs.median),
        `${cmp.ratio.toFixed(2)}x`,
        `${cmp.ratioMin.toFixed(2)}-${cmp.ratioMax.toFixed(2)}`,
        `${cmp.disturbedRounds}`,
        goalMark(c, cmp),
      ]);
    }
  }
  const header = ['case', 'bytes', 'operation', 'mozzie ops/s', 'mqtt-packet ops/s', 'ratio', 'ratio range', 'redone', 'goal'];
  return table(header, rows, new Set([1, 3, 4, 5, 6, 7]));
}

export function allocationTable(a: AllocationReport): string {
  const rows = a.results.map((r) => [
    r.name,
    r.heapBytesPerPacket.toFixed(1),
    `${r.minHeapBytesPerPacket.toFixed(1)}-${r.maxHeapBytesPerPacket.toFixed(1)}`,
    r.arrayBufferBytesPerPacket.toFixed(2),
    `${r.windows} (+${r.discardedWindows} discarded)`,
  ]);
  const base = a.results[0];
  const ours = a.results[1];
  const summary =
    base !== undefined && ours !== undefined
      ? `\nFramer beyond the packet objects: ${(ours.heapBytesPerPacket - base.heapBytesPerPacket).toFixed(1)} bytes per packet.`
      : '';
  return `${table(
    ['stream of small PUBLISH', 'heap B/packet (median)', 'range', 'ArrayBuffer B/packet', 'windows'],
    rows,
    new Set([1, 2, 3]),
  )}\n(${a.packetsPerChunk} packets of ${a.packetBytes} bytes per ${a.chunkBytes}-byte chunk, ${a.packetsPerWindow} packets per window)${summary}`;
}

export function machineLines(m: Machine, h: HarnessOptions): string {
  return [
    `date: ${m.date}`,
    `cpu: ${m.cpuModel}, nproc ${m.nproc}, ${m.memoryGiB} GiB, ${m.platform}`,
    `node: ${m.node} (V8 ${m.v8}), load average at start ${m.loadAverageAtStart}`,
    `harness: warm-up ${h.warmupMs} ms per side, ${h.rounds} interleaved rounds of ~${h.batchMs} ms per side; ops/s = median per side,`,
    `  ratio = median of per-round ratios (mozzie / mqtt-packet); rounds where a batch got < 90% of a CPU are redone; nothing pinned`,
  ].join('\n');
}

/** Every case was encoded by both sides and cross-decoded before timing; say whether the bytes matched. */
function wireCheck(cases: readonly CaseResult[]): string {
  const different = cases.filter((c) => !c.identicalBytes).map((c) => c.name);
  return different.length === 0
    ? `wire check: both encoders produce byte-identical packets for all ${cases.length} cases; each decodes the other's bytes`
    : `wire check: same length but different bytes for ${different.join(', ')}; each decodes the other's bytes`;
}

export function textReport(r: BenchReport): string {
  const parts = [
    machineLines(r.machine, r.harness),
    `run: ${r.durationSeconds.toFixed(0)} s, load average at end ${r.loadAverageAtEnd}`,
    wireCheck(r.cases),
    '',
    speedTable(r.cases),
  ];
  if (r.allocation !== undefined) parts.push('', allocationTable(r.allocation));
  return `${parts.join('\n')}\n`;
}
