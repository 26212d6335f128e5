import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ALLOCATION_NODE_FLAGS, type AllocationReport } from './alloc.js';
import { allCases } from './cases.js';
import { checkCase } from './check.js';
import { describeMachine, loadAverage } from './env.js';
import { compare, type HarnessOptions } from './harness.js';
import { type BenchReport, type CaseResult, machineLines, textReport } from './report.js';
import { appliesTo, OPERATIONS, type Operation, pairFor } from './workloads.js';

/**
 * Codec benchmark: Mozzie's encoder, framer and decoder against mqtt-packet's generate and parser, in
 * one process, interleaved. Usage (after `npx tsc -p .`):
 *
 *   node dist/bench/codec/run.js [--json] [--quick] [--filter <text>] [--op <operation>] [--rounds <n>] [--no-alloc]
 *
 * Progress goes to stderr; stdout gets the table, or the JSON report with --json.
 */

const USAGE = `usage: node dist/bench/codec/run.js [--json] [--quick] [--filter <text>]... [--op encode|'decode stream'|'decode single']... [--rounds <n>] [--no-alloc]`;

function options() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      filter: { type: 'string', multiple: true },
      op: { type: 'string', multiple: true },
      rounds: { type: 'string' },
      'no-alloc': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const harness: HarnessOptions = values.quick ? { warmupMs: 100, batchMs: 15, rounds: 5 } : { warmupMs: 200, batchMs: 40, rounds: 9 };
  const rounds = values.rounds === undefined ? harness.rounds : Number.parseInt(values.rounds, 10);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer\n${USAGE}`);
  const ops = (values.op ?? OPERATIONS) as Operation[];
  for (const op of ops) if (!OPERATIONS.includes(op)) throw new Error(`unknown --op ${op}\n${USAGE}`);
  return { json: values.json, filters: values.filter ?? [], ops, alloc: !values['no-alloc'], harness: { ...harness, rounds } };
}

function allocation(): AllocationReport {
  process.stderr.write('measuring allocation (separate process)...\n');
  const script = fileURLToPath(new URL('./alloc.js', import.meta.url));
  const child = spawnSync(process.execPath, [...ALLOCATION_NODE_FLAGS, script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.status !== 0) throw new Error(`allocation measurement failed (exit ${String(child.status)})`);
  return JSON.parse(child.stdout) as AllocationReport;
}

function main(): void {
  const opts = options();
  const started = performance.now();
  const machine = describeMachine();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (process.env['DEBUG'] !== undefined) log(`warning: DEBUG=${process.env['DEBUG']} is set; mqtt-packet's debug() calls may cost more`);
  log(machineLines(machine, opts.harness));

  const cases = allCases().filter((c) => opts.filters.length === 0 || opts.filters.some((f) => c.name.includes(f)));
  const checked = cases.map((c) => ({ c, check: checkCase(c) }));
  const results: CaseResult[] = [];
  for (const { c, check } of checked) {
    const operations: Partial<Record<Operation, ReturnType<typeof compare>>> = {};
    for (const op of opts.ops) {
      if (!appliesTo(op, c)) continue;
      const pair = pairFor(op, c, check.bytes);
      const cmp = compare(pair.ours, pair.theirs, opts.harness);
      operations[op] = cmp;
      log(
        `${c.name.padEnd(28)} ${op.padEnd(14)} ${cmp.ratio.toFixed(2)}x${cmp.disturbedRounds > 0 ? ` (${cmp.disturbedRounds} rounds redone)` : ''}`,
      );
    }
    results.push({
      name: c.name,
      family: c.family,
      version: c.version,
      packetBytes: check.bytes.length,
      identicalBytes: check.identical,
      operations,
    });
  }
  const different = results.filter((r) => !r.identicalBytes).map((r) => r.name);
  if (different.length > 0) log(`note: same length, different bytes from mqtt-packet for: ${different.join(', ')}`);

  const allocationReport = opts.alloc ? allocation() : undefined;
  const end = { loadAverageAtEnd: loadAverage(), durationSeconds: (performance.now() - started) / 1000 };
  const report: BenchReport =
    allocationReport === undefined
      ? { machine, harness: opts.harness, cases: results, ...end }
      : { machine, harness: opts.harness, cases: results, allocation: allocationReport, ...end };
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : textReport(report));
}

main();
